from __future__ import annotations

import click

from .options import config_option, db_option, echo, emit_json, json_option, say


@click.command()
@click.option("--out", default="report.html", show_default=True, type=click.Path(dir_okay=False, allow_dash=True),
              help="HTML file to write (- for stdout).")
@click.option("--hardware", default=None, help="Hardware profile for payback and capacity (see plan cost; default [cost] hardware or desktop-24gb).")
@click.option("--email", "recipients", multiple=True, metavar="TO", help="Send the report to this address (repeat for more).")
@click.option("--subject", default=None, help="Email subject (default: the headline numbers).")
@click.option("--smtp-host", default=None, help="SMTP server (env PLAN_SMTP_HOST, or [email] host).")
@click.option("--smtp-port", type=int, default=None, help="SMTP port (env PLAN_SMTP_PORT; default 465 with --smtp-ssl, else 587).")
@click.option("--smtp-ssl/--starttls", "smtp_ssl", default=None,
              help="TLS from the first byte (SMTPS), or require STARTTLS. Default: STARTTLS when the server offers it.")
@click.option("--no-redact", is_flag=True,
              help="Write log text as logged, secrets included, to the --out file only (owner-only permissions). "
                   "Refused with --email and --out -; --json and the terminal stay redacted.")
@db_option
@config_option
@json_option
def report(out, hardware, recipients, subject, smtp_host, smtp_port, smtp_ssl, no_redact, db_path, config_file, as_json):
    """Write the decision report (email-safe HTML) and optionally email it.

    Runs whatever earlier stage is missing or stale (privacy scan, categorize,
    judge; cost is always recomputed) but never replay: without replays the
    report shows the savings ceiling and says acceptance is not yet measured.
    --json prints exactly the data the HTML was rendered from.

    The SMTP password is read only from PLAN_SMTP_PASSWORD (user: PLAN_SMTP_USER,
    sender: PLAN_SMTP_FROM) and is never printed.

    \b
    Examples:
      plan report --out report.html
      plan report --hardware mac-studio-128gb --json > report.json
      PLAN_SMTP_PASSWORD=... plan report --email cto@example.com --smtp-host smtp.example.com --starttls
    """
    from ..config import load_config
    from ..db import connect
    from ..errors import PlanError
    from ..report import ReportSettings, render_html, report as build_report, save_html

    if no_redact and recipients:
        raise PlanError("--no-redact cannot be used with --email: unredacted prompts never leave this machine by mail.")
    if out == "-" and as_json:
        raise PlanError("--out - and --json both write to stdout; give --out a file name.")
    if no_redact and out == "-":
        raise PlanError("--no-redact writes only to a local file: give --out a file name, not - (stdout).")
    config = load_config(config_file)
    report_settings = ReportSettings.resolve(config, hardware=hardware, redact=not no_redact)
    settings = None
    if recipients:
        from ..emailer import smtp_settings

        security = None if smtp_ssl is None else ("ssl" if smtp_ssl else "starttls")
        settings = smtp_settings(host=smtp_host, port=smtp_port, security=security, config=config)

    con = connect(db_path, create=False)
    try:
        context = build_report(con, report_settings, progress=True, say=say)
    finally:
        con.close()
    html = render_html(context)
    if out == "-":
        echo(html, nl=False, limit=None)  # the page was rendered through the gate; its lines are long
    else:
        path = save_html(html, out, private=no_redact)
        say(f"Wrote {path}" + (" (unredacted, owner-only)" if no_redact else ""))

    if settings is not None:
        from ..emailer import send_report

        typed = [*recipients, settings.user or "", settings.sender or ""]  # the user's own input, not log text
        say(f"Sending to {', '.join(recipients)} through {settings.describe()}...", keep=typed)
        sent = send_report(context, to=list(recipients), settings=settings, subject=subject)
        say(f"Sent {sent['bytes'] // 1024} KB with {sent['images']} chart(s) to {', '.join(sent['to'])}.", keep=typed)

    if as_json:
        emit_json(context)
    elif out != "-":
        _print_headline(context)


def _print_headline(context: dict) -> None:
    from ..report import FORMATTERS

    usd, pct, months = FORMATTERS["usd"], FORMATTERS["pct"], FORMATTERS["months"]
    h = context["headline"]
    spend = usd(h["monthly_spend_usd"])
    if h.get("sampled"):
        spend += f" for the full traffic, {h['sample_note']}; {usd(h['sample_monthly_spend_usd'])} a month in the sample"
    echo(f"Monthly API spend:     {spend}")
    if h.get("replayed_model"):
        echo(f"Replayed model:        {h['replayed_model']}" + (" (a stand-in, not the model you would deploy)"
                                                              if h.get("stand_in") else ""))
    if h["acceptance_measured"]:
        echo(f"Could move local:      {usd(h['movable_monthly_spend_usd'])} ({pct(h['movable_share_of_spend'])} of spend)")
        echo(
            f"Savings / month:       {usd(h['monthly_savings_usd'])} "
            f"(95% range {usd(h['monthly_savings_low_usd'])} to {usd(h['monthly_savings_high_usd'])})"
        )
        echo(f"Acceptable categories: {h['acceptable_categories']} of {h['top_categories']}")
    else:
        echo("Acceptance:            not yet measured (run plan replay)")
        echo(f"Savings ceiling:       {usd(h['ceiling_monthly_savings_usd'])} / month if everything moved local")
    if h["hardware"]:
        echo(f"Payback ({h['hardware']}): {months(h['payback_months'])}")
    if h.get("potential_label"):
        if h["potential_categories"] and (h["potential_monthly_savings_usd"] or 0) > 0:
            value = (f"up to {usd(h['potential_monthly_savings_usd'])} / month at {pct(h['potential_acceptance'])} "
                     f"acceptance on {h['potential_categories']} categories with objective checks; payback "
                     f"{months(h['potential_payback_months'])} on {h['potential_boxes_needed']} x {h['potential_hardware']}")
        else:
            value = "no saving: " + (h["potential_sentence"] or "")
        echo(f"{h['potential_label']}: {value}")
