#!/usr/bin/env python3
"""Generate the bundled sample logs: a 1-in-50 sample (R = 0.02) of one month (2026-10-01 .. 2026-10-30, UTC) of
LLM API traffic from "Halcyon Labs", a made-up smart-home company, on current frontier models, written the way the
real tools write their exports. Scaled by 1/R the files describe the team's whole month.

    python sample_logs/generate.py                 # rewrite the committed files (seed 20261001)
    python sample_logs/generate.py --seed 7 --out /tmp/other

The same seed always gives byte-identical files (gzip headers carry no timestamp or file name).
Only the standard library is used, so the generator runs anywhere Python 3.10+ does.

What is written (see sample_logs/README.md for the full description and the planted malformed lines):
  openai/chat_completions-2026-10.jsonl.gz     an app's request/response log of chat.completions calls (gzip)
  openai/batch_*_input.jsonl, *_output.jsonl   one OpenAI Batch job (/v1/chat/completions), joined on custom_id
  anthropic/messages-2026-10.jsonl.gz          an app's request/response log of Messages API calls (gzip)
  bedrock/<S3 object name>.json.gz             Bedrock model-invocation logs as delivered to S3 (Converse)
  litellm/LiteLLM_SpendLogs.csv.gz             the LiteLLM proxy's SpendLogs table exported as CSV (gzip)
The two app logs state the sample rate in every record (`sample_rate`); the other exports have no place for it.
"""

from __future__ import annotations

import argparse
import csv
import functools
import gzip
import hashlib
import io
import json
import math
import random
import re
import string
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

DEFAULT_SEED = 20261001
# The files are a 1-in-50 sample of the team's month: every request (and every long-document session, whole)
# was kept with probability SAMPLE_RATE. Scaled by 1/SAMPLE_RATE they describe the full month.
SAMPLE_RATE = 0.02
START = datetime(2026, 10, 1, tzinfo=timezone.utc)
DAYS = 30
ACCOUNT_ID = "318204675529"
REGION = "us-east-1"

# --------------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------------

B62 = string.ascii_letters + string.digits


def rng_for(seed: int, *names: str) -> random.Random:
    """An independent stream per workload, so changing one workload leaves the others' output alone."""
    return random.Random(f"{seed}:" + ":".join(names))


def rand_str(rng: random.Random, n: int, alphabet: str = B62) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def rand_uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def pick(rng: random.Random, seq):
    return seq[rng.randrange(len(seq))]


def money(x: float) -> str:
    return f"{x:,.2f}"


_TOKEN_RE = re.compile(r"[A-Za-z]+|\d+|[^\sA-Za-z\d]")


@functools.lru_cache(maxsize=8192)  # system prompts and documents repeat thousands of times
def approx_tokens(text: str) -> int:
    """A BPE-like estimate: short words are one token, long words and numbers split, each symbol counts."""
    n = 0
    for m in _TOKEN_RE.finditer(text or ""):
        w = m.group()
        if w[0].isalpha():
            n += 1 + (len(w) - 1) // 7
        elif w[0].isdigit():
            n += (len(w) + 2) // 3
        else:
            n += 1
    return n


def chat_prompt_tokens(system: str | None, messages: list[dict], factor: float = 1.0) -> int:
    total = 3
    for text in ([system] if system else []) + [m["content"] for m in messages]:
        total += 4 + approx_tokens(text)
    return max(1, round(total * factor))


def completion_tokens(text: str, factor: float = 1.0) -> int:
    return max(1, round((approx_tokens(text) + 1) * factor))


def iso_z(dt: datetime, ms: bool = True) -> str:
    dt = dt.astimezone(timezone.utc)
    if ms:
        return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def jdump(obj, *, compact: bool = True, ascii_only: bool = False) -> str:
    if compact:
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=ascii_only)
    return json.dumps(obj, ensure_ascii=ascii_only)


# --------------------------------------------------------------------------------------------------
# Traffic shape: hour-of-day (UTC; the company sits in New York, UTC-4 in October) and day-of-week
# --------------------------------------------------------------------------------------------------

OFFICE_HOURS = [0.04, 0.03, 0.02, 0.02, 0.02, 0.03, 0.05, 0.09, 0.2, 0.3, 0.36, 0.42,
                0.62, 0.92, 1.0, 0.98, 0.9, 0.84, 0.95, 0.9, 0.72, 0.45, 0.22, 0.09]
SUPPORT_HOURS = [0.3 + 0.7 * w for w in OFFICE_HOURS]
PROFILES = {
    # weekday factors Mon..Sun
    "office": (OFFICE_HOURS, [1.0, 1.05, 1.08, 1.02, 0.85, 0.1, 0.07]),
    "support": (SUPPORT_HOURS, [1.25, 1.1, 1.0, 1.0, 0.95, 0.5, 0.45]),
    "evening": ([0.1] * 12 + [0.3, 0.5, 0.7, 0.8, 0.8, 0.9, 1.0, 1.0, 0.9, 0.7, 0.4, 0.2], [1, 1, 1, 1, 1, 0.3, 0.2]),
}
GROWTH = 0.3  # traffic grows ~30% over the month


def sample_times(rng: random.Random, n: int, profile: str, days: tuple[int, int] = (0, DAYS),
                 boost: dict[int, float] | None = None) -> list[datetime]:
    hours, weekdays = PROFILES[profile]
    slots, weights = [], []
    for d in range(*days):
        day = START + timedelta(days=d)
        dw = weekdays[day.weekday()] * (1 + GROWTH * d / (DAYS - 1)) * (boost or {}).get(d, 1.0)
        for h in range(24):
            slots.append(day + timedelta(hours=h))
            weights.append(dw * hours[h])
    chosen = rng.choices(range(len(slots)), weights=weights, k=n)
    times = [slots[i] + timedelta(seconds=rng.randrange(3600), microseconds=rng.randrange(1000) * 1000) for i in chosen]
    return sorted(times)


# --------------------------------------------------------------------------------------------------
# Shared pools
# --------------------------------------------------------------------------------------------------

FIRST = ["Olivia", "Liam", "Priya", "Mateo", "Aisha", "Noah", "Chen", "Sofia", "Kwame", "Emma", "Lucas", "Yuki",
         "Fatima", "Ethan", "Ingrid", "Diego", "Hannah", "Omar", "Zoe", "Rafael", "Mei", "Jonas", "Amara", "Tomás",
         "Grace", "Arjun", "Leila", "Samuel", "Nina", "Viktor", "Chloe", "Daniel", "Ana", "Hiro", "Isabel", "Marcus",
         "Elena", "Kofi", "Ruth", "Felix", "Bea", "Connor", "Dalia", "Erik", "Farah", "Gustavo", "Helen", "Ivan"]
LAST = ["Nguyen", "Okafor", "Schmidt", "Patel", "García", "Johansson", "Kowalski", "Tanaka", "Haddad", "O'Brien",
        "Rossi", "Müller", "Silva", "Kim", "Dubois", "Mensah", "Novak", "Hughes", "Ivanova", "Costa", "Lindqvist",
        "Reyes", "Sato", "Adeyemi", "Bauer", "Fischer", "Chowdhury", "Moreau", "Walsh", "Yilmaz", "Brennan", "Ortiz"]
MAIL_DOMAINS = ["gmail.com", "outlook.com", "yahoo.com", "icloud.com", "proton.me", "fastmail.com", "hey.com"]
CITIES = [("Austin", "TX", "US", "78704"), ("Portland", "OR", "US", "97214"), ("Columbus", "OH", "US", "43215"),
          ("Raleigh", "NC", "US", "27601"), ("Denver", "CO", "US", "80205"), ("Brooklyn", "NY", "US", "11215"),
          ("Madison", "WI", "US", "53703"), ("Tucson", "AZ", "US", "85719"), ("Manchester", "", "GB", "M4 1HN"),
          ("Leeds", "", "GB", "LS1 4AP"), ("Toronto", "ON", "CA", "M5V 2T6"), ("Hamburg", "", "DE", "20095"),
          ("Utrecht", "", "NL", "3511 AB"), ("Lyon", "", "FR", "69002")]
STREETS = ["Maple Ave", "Oak Street", "Cedar Lane", "Harbor Road", "Mill Street", "Elm Court", "Station Road",
           "Riverside Drive", "Hillcrest Blvd", "Park Place", "Birch Way", "Willow Crescent"]
DEVICES = ["Halcyon Thermostat T3", "Halcyon Cam Indoor", "Halcyon Cam Outdoor 2K", "Halcyon Doorbell Pro",
           "Halcyon Hub", "Halcyon Smart Plug (2-pack)", "Halcyon Leak Sensor", "Halcyon Contact Sensor"]
SHORT_DEVICE = {"Halcyon Thermostat T3": "T3 thermostat", "Halcyon Cam Indoor": "indoor cam",
                "Halcyon Cam Outdoor 2K": "outdoor cam", "Halcyon Doorbell Pro": "doorbell",
                "Halcyon Hub": "hub", "Halcyon Smart Plug (2-pack)": "smart plug",
                "Halcyon Leak Sensor": "leak sensor", "Halcyon Contact Sensor": "contact sensor"}
PLANS = [("Basic", 3.99), ("Plus", 9.99), ("Pro", 14.99)]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]
TEAMS = ["Platform", "Mobile", "Firmware", "Support Ops", "Growth", "Data", "Payments", "Security"]


def person(rng: random.Random) -> tuple[str, str]:
    first, last = pick(rng, FIRST), pick(rng, LAST)
    return first, last


def ascii_lower(text: str) -> str:
    """'Müller' -> 'muller', "O'Brien" -> 'obrien': how mail systems spell names in addresses."""
    import unicodedata
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z]", "", plain.lower())


def email_for(rng: random.Random, first: str, last: str, domain: str | None = None) -> str:
    f, l = ascii_lower(first), ascii_lower(last)
    local = pick(rng, [f"{f}.{l}", f"{f[0]}{l}", f"{f}{rng.randrange(10, 99)}", f"{f}_{l[:4]}"])
    return f"{local}@{domain or pick(rng, MAIL_DOMAINS)}"


def phone_for(rng: random.Random, country: str = "US") -> str:
    if country == "GB":
        return f"+44 20 7946 0{rng.randrange(100, 999)}"
    return pick(rng, ["({a}) 555-01{b:02d}", "+1 {a}-555-01{b:02d}", "{a}.555.01{b:02d}"]).format(
        a=pick(rng, ["415", "512", "503", "614", "919", "303", "718", "608"]), b=rng.randrange(100))


def day_in_month(rng: random.Random, when: datetime, back: int = 20) -> datetime:
    return when - timedelta(days=rng.randrange(1, back))


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def fmt_date(dt: datetime, rng: random.Random) -> str:
    month = MONTHS[dt.month - 1]
    return pick(rng, [f"{month} {dt.day}", f"{month[:3]} {dt.day}", f"{dt.month}/{dt.day}", f"the {ordinal(dt.day)}"])


@dataclass
class Call:
    """One API call, provider-neutral; the writers turn it into each tool's format."""

    workload: str
    created: datetime
    system: str | None
    messages: list[dict]  # user/assistant turns, content as plain text
    response: str
    params: dict = field(default_factory=dict)  # temperature, max_tokens, response_format, ...
    truncated: bool = False  # the model hit max_tokens
    cache_prefix: str | None = None  # a long document placed before the question (Anthropic: a block marked cache_control)
    user: str | None = None
    tags: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------------------------
# Workload: support ticket triage (classification into a fixed label set)
# --------------------------------------------------------------------------------------------------

TRIAGE_LABELS = ["billing", "refund_request", "account_access", "device_setup", "connectivity", "bug_report",
                 "feature_request", "shipping_delivery", "cancellation", "privacy_request", "other"]
TRIAGE_SYSTEM = (
    "You are the ticket triage step in Halcyon's support pipeline. Read the customer ticket and answer with "
    "exactly one label from this list and nothing else:\n"
    + ", ".join(TRIAGE_LABELS)
    + "\nRules: a ticket that asks for money back is refund_request even when it also describes a defect; "
    "data access, deletion or questions about who can see recordings are privacy_request; a device that "
    "worked before and now drops off the network is connectivity, a device that never finished setup is "
    "device_setup; use other only when nothing else fits.\n\n"
    # The rest is the label guide the support team grew over a year of escalations. It is long on purpose:
    # real triage prompts are, and OpenAI caches such a shared prefix (cached_tokens in the usage).
    "## Label guide\n"
    "- billing: questions about charges, invoices, receipts, VAT, promo codes, payment methods and plan prices, "
    "when the customer does not ask for money back. Duplicate charges are billing until the customer asks for a "
    "refund; then they are refund_request.\n"
    "- refund_request: the customer asks for money back, for any reason: a return inside the 30-day window, a "
    "defective unit they do not want replaced, a charge after cancelling, an RMA whose refund has not arrived.\n"
    "- account_access: login problems, two-factor codes, password resets, locked accounts, shared home members "
    "who cannot see the home. Not for devices that are offline.\n"
    "- device_setup: a device that has never worked: stuck in pairing, QR codes that fail, wiring questions during "
    "installation, power problems on first install (transformer voltage, C wire).\n"
    "- connectivity: a device that worked before and now drops off Wi-Fi or the hub, shows offline, or reports "
    "E-1xx network errors; router or ISP changes.\n"
    "- bug_report: the app or firmware behaves wrongly and the customer describes what they expected: wrong units, "
    "late notifications, empty timelines, schedules ignored, crashes outside setup.\n"
    "- feature_request: the customer asks for something the product does not do yet.\n"
    "- shipping_delivery: order status, tracking, lost or wrong parcels, address changes before shipping.\n"
    "- cancellation: ending a Protect subscription, turning off auto-renew, closing the account when moving out. "
    "If the customer also asks for a refund of a past charge, use refund_request.\n"
    "- privacy_request: data access or export (GDPR, CCPA), deletion of recordings or the account, questions about "
    "who can see footage, support access grants.\n"
    "- other: compliments, partnership and installer enquiries, store locations, anything that fits no label above.\n\n"
    "## Edge cases decided by the support leads\n"
    "1. A ticket with several requests gets the label of the request that needs an action from us first.\n"
    "2. Angry tone does not change the label. Threats to cancel are cancellation only when the customer asks us to cancel.\n"
    "3. Firmware version numbers alone do not make a ticket a bug_report; a device that lost its connection after "
    "an update is connectivity.\n"
    "4. Tickets forwarded by retail partners follow the same rules; ignore the partner's own header.\n"
    "5. Tickets in other languages get the same labels; do not translate them.\n"
    "6. Never answer with an explanation, a confidence, punctuation or more than one label.\n"
    "7. Business customers (property managers, installers with many homes) get the same labels as consumers; "
    "their volume does not make a ticket billing.\n"
    "8. Questions about prices before buying are other; questions about what a customer was charged are billing.\n"
    "9. A ticket that only contains an order number or a screenshot reference with no question is other.\n\n"
    "## Examples\n"
    "Ticket: \"My card was billed $9.99 on the 3rd and again on the 4th for Protect Plus.\" -> billing\n"
    "Ticket: \"Doorbell stopped working after 3 weeks, I want my money back, not another one.\" -> refund_request\n"
    "Ticket: \"The SMS code never arrives so I can't get into the app.\" -> account_access\n"
    "Ticket: \"Hub blinks blue forever at the 'Add device' step, tried 3 resets.\" -> device_setup\n"
    "Ticket: \"Since we changed routers the outdoor cam says offline.\" -> connectivity\n"
    "Ticket: \"Motion alerts show up 10 minutes late since the last app update.\" -> bug_report\n"
    "Ticket: \"Please add a vacation mode to the thermostat schedule.\" -> feature_request\n"
    "Ticket: \"Tracking hasn't moved in 6 days for order HL-5512093.\" -> shipping_delivery\n"
    "Ticket: \"Cancel Protect at the end of this month please.\" -> cancellation\n"
    "Ticket: \"Delete every recording of my house and my account.\" -> privacy_request\n"
    "Ticket: \"Your agent Ruth was great, that's all.\" -> other\n\n"
    "Answer with the label only, in lower case, exactly as written in the list."
)

# (label, subject, body); placeholders are filled from the ticket context
TICKETS = [
    ("billing", "Charged twice", "I was charged {amt} twice on {date} for Halcyon Protect {plan}. My card ending in {last4} shows two identical charges. Can you look into it?"),
    ("billing", "Bill went up?", "Why did my Protect bill go from ${old} to ${new} this month? I didn't change anything on my plan and I never got an email about a price change."),
    ("billing", "Need an invoice with VAT", "Our accounting team needs a proper VAT invoice for the Protect {plan} subscription for {month}. Company name is {company}, VAT number {vat}."),
    ("billing", "Renewal hit the wrong card", "The annual renewal charged my old card even though I updated the payment method in the app last week. Which card is actually on file?"),
    ("billing", "Promo code not applied", "I used the code {promo} at checkout for order {order} but the receipt shows full price ({amt}). Can you apply the discount?"),
    ("refund_request", "Refund still not received", "I sent the {device} back on {date} (RMA {rma}) and UPS shows it was delivered to your warehouse, but I still haven't got my refund of {amt}."),
    ("refund_request", "Return and refund", "The {device} doesn't work with my {ecosystem} setup and I'm still inside the 30 days. Please refund order {order}, I'll ship it back today."),
    ("refund_request", "Charged after cancelling", "I cancelled Protect {plan} on {date} but was charged {amt} again. I'd like that money back please."),
    ("refund_request", "Defective unit - want my money back", "My {device} died after {weeks} weeks, it won't power on at all. I don't want a replacement, I want a refund for order {order}."),
    ("account_access", "Can't log in", "Every time I enter the 6-digit code from the SMS the app says 'Invalid verification code'. I've tried {tries} times and now it says try again later."),
    ("account_access", "Locked out after new phone", "I got a new phone and the authenticator app didn't transfer, so I can't get past two-factor. Account email is {email}."),
    ("account_access", "Password reset email never arrives", "I requested a password reset four times today and nothing shows up, not even in spam. I'm using {email}."),
    ("account_access", "Shared access not working", "I invited my partner to the home as a member but she just sees 'No homes found' when she logs in. Her email is {email2}."),
    ("device_setup", "Stuck during setup", "The {device} is stuck on the blinking blue light at the 'Connecting to Hub' step. I've reset it twice and moved it next to the hub."),
    ("device_setup", "Thermostat wiring question", "I'm installing the T3. My old {brand} thermostat has R, W, Y and C wires but no G. Where does the C wire go and do I need the jumper?"),
    ("device_setup", "QR code won't scan", "When I try to add the {device} the app crashes right after scanning the QR code. Phone is a {phone_model} on {os}."),
    ("device_setup", "Doorbell won't power up", "Just installed the Doorbell Pro, the ring light flashes orange and then nothing. My transformer is {volts}V."),
    ("connectivity", "Keeps going offline", "My {device} drops offline every night around {hour}pm and comes back in the morning. It worked fine for months. Router is a {router} on 2.4GHz."),
    ("connectivity", "Camera disconnects since update", "Since firmware {fw} the {device} disconnects every few hours and the app shows error E-{code}. Other devices on the network are fine."),
    ("connectivity", "Hub offline after ISP change", "We switched internet providers yesterday and now the hub shows offline. I changed the wifi name and password on the new router to match the old ones but it still won't reconnect."),
    ("bug_report", "Wrong temperature units", "In app version {ver} on {os} the schedule screen shows Celsius even though my account is set to Fahrenheit. Settings page shows Fahrenheit correctly."),
    ("bug_report", "Late motion alerts", "Motion notifications arrive 5 to 10 minutes late since updating to {ver}. The clip timestamps are right, just the push notification is slow."),
    ("bug_report", "Timeline empty", "The activity timeline is empty for {date} even though the {device} recorded clips that day - I can find them under Recordings but not in the timeline."),
    ("bug_report", "Schedule ignored", "The thermostat ignores the 'Away' block in my schedule on weekdays. Weekends work. Screenshot attached of the schedule."),
    ("feature_request", "Holiday schedules", "Would love to set a separate schedule for holidays without having to change my weekday one every time."),
    ("feature_request", "HomeKit for doorbell", "Any plans to add HomeKit support for the Doorbell Pro? The cameras already work in Home, the doorbell is the only thing missing."),
    ("feature_request", "Bulk export of clips", "Please add an option to download clips in bulk. I need about {n} clips for an insurance claim and downloading one by one is painful."),
    ("feature_request", "Widget idea", "Could the app get a lock-screen widget that shows the current temperature and lets me bump it up or down?"),
    ("shipping_delivery", "Where is my order?", "Order {order} was supposed to arrive {date} but the tracking hasn't updated since it left {city}."),
    ("shipping_delivery", "Marked delivered, not here", "Tracking for order {order} says delivered yesterday at {hour}:14pm but there's nothing at my door or with the neighbours."),
    ("shipping_delivery", "Wrong item", "I ordered the {device} but the box contained a {other_device}. Order {order}."),
    ("shipping_delivery", "Change shipping address", "I just placed order {order} and realised it's going to my old address. Can you change it to {address} before it ships?"),
    ("cancellation", "Cancel subscription", "Please cancel my Protect {plan} subscription at the end of the current billing period. I don't need cloud recording anymore."),
    ("cancellation", "Moving out, closing account", "We're moving out of the house on {date} and the new owners don't want the system. How do I cancel Protect and remove the devices from my account?"),
    ("cancellation", "Stop auto-renew", "Please turn off auto-renew on my annual plan. I may come back later but don't want it to renew in {month}."),
    ("privacy_request", "Copy of my data", "Under GDPR I'd like a copy of all personal data you hold about me. My account is {email}."),
    ("privacy_request", "Delete my recordings", "Please permanently delete all video recordings and my account data. I'm not comfortable with footage of my kids being stored in the cloud."),
    ("privacy_request", "Who can see my footage?", "Can Halcyon employees watch my camera recordings? Support asked me to 'grant access' last time and I want to understand what that means."),
    ("other", "Store near me?", "Is there a store in {city} where I can see the cameras in person before buying?"),
    ("other", "Installer partnership", "I run a small electrical contracting business and would like to become a certified Halcyon installer. Who should I talk to?"),
    ("other", "Compliment", "Not a problem, just wanted to say the agent who helped me last week ({agent}) was fantastic."),
]
CHANNELS = ["email", "web form", "in-app chat", "email", "web form"]
OPENERS = ["Hi,\n\n", "Hello,\n\n", "Hi there,\n\n", "", "Good morning,\n\n", "Hey support team,\n\n"]
EXTRAS = ["", "", "", "I've been a customer for {years} years and this is the first time I've had to write in. ",
          "This is really frustrating. ", "Thanks in advance! ", "Please help asap. ", "Any update would be appreciated. "]
ROUTERS = ["Netgear Nighthawk", "TP-Link Archer AX55", "Eero 6", "Xfinity gateway", "ASUS RT-AX86U", "Google Nest Wifi"]


def make_ticket(rng: random.Random, when: datetime) -> tuple[str, str]:
    label, subject, body = pick(rng, TICKETS)
    first, last = person(rng)
    city = pick(rng, CITIES)
    dev = pick(rng, DEVICES)
    plan, price = pick(rng, PLANS)
    ctx = {
        "amt": f"${price * pick(rng, [1, 1, 1, 12]):.2f}", "date": fmt_date(day_in_month(rng, when), rng),
        "plan": plan, "last4": f"{rng.randrange(10000):04d}", "old": f"{price:.2f}",
        "new": f"{price + pick(rng, [1, 2, 3]):.2f}", "month": pick(rng, MONTHS),
        "company": f"{pick(rng, LAST)} {pick(rng, ['Properties', 'Dental', 'Architects', 'Holdings', 'Rentals'])}",
        "vat": f"GB{rng.randrange(100000000, 999999999)}", "promo": pick(rng, ["FALL15", "WELCOME10", "PROTECT20", "HOMEKIT5"]),
        "order": f"HL-{rng.randrange(1000000, 9999999)}", "device": SHORT_DEVICE[dev],
        "rma": f"RMA-{rng.randrange(20000, 99999)}", "ecosystem": pick(rng, ["Google Home", "Alexa", "SmartThings", "HomeKit"]),
        "weeks": rng.randrange(2, 9), "tries": rng.randrange(3, 9), "email": email_for(rng, first, last),
        "email2": email_for(rng, pick(rng, FIRST), last), "brand": pick(rng, ["Honeywell", "Emerson", "ecobee", "White-Rodgers"]),
        "phone_model": pick(rng, ["Pixel 8", "iPhone 15", "Galaxy S23", "iPhone 13 mini", "OnePlus 12"]),
        "os": pick(rng, ["iOS 19.1", "iOS 18.6", "Android 16", "Android 15"]), "volts": pick(rng, [10, 16, 24]),
        "hour": rng.randrange(7, 12), "router": pick(rng, ROUTERS), "fw": f"{rng.randrange(3, 5)}.{rng.randrange(0, 9)}.{rng.randrange(0, 30)}",
        "code": rng.randrange(100, 140), "ver": f"6.{rng.randrange(8, 14)}.{rng.randrange(0, 6)}",
        "n": pick(rng, [40, 60, 120, 200]), "city": city[0], "other_device": SHORT_DEVICE[pick(rng, DEVICES)],
        "address": f"{rng.randrange(10, 990)} {pick(rng, STREETS)}, {city[0]}", "years": rng.randrange(2, 7),
        "agent": pick(rng, FIRST),
    }
    text = body.format(**ctx)
    extra = pick(rng, EXTRAS).format(**ctx)
    if extra and rng.random() < 0.5:
        text = extra + text
    elif extra:
        text = text + " " + extra.strip()
    if rng.random() < 0.12:  # people write tersely from phones
        text = text.lower().replace(". ", " ").rstrip(".")
    sig = f"{first} {last}"
    r = rng.random()
    if r < 0.25:
        sig += f"\n{phone_for(rng, city[2])}"
    elif r < 0.4:
        sig += f"\n{ctx['email']}"
    elif r < 0.55:
        sig = first
    channel = pick(rng, CHANNELS)
    ticket = (f"Ticket #{rng.randrange(400000, 499999)} ({channel})\nFrom: {first} {last} <{ctx['email']}>\n"
              f"Subject: {subject}\n\n{pick(rng, OPENERS)}{text}\n\n{sig}")
    if channel == "in-app chat" or rng.random() < 0.2:  # the app attaches diagnostics to tickets sent from it
        ticket += (f"\n\n-- Diagnostics attached by the Halcyon app --\nApp: Halcyon {ctx['ver']} ({ctx['os']}, {ctx['phone_model']})\n"
                   f"Device: {dev} (serial HL{rng.randrange(10 ** 9, 10 ** 10)}), firmware {ctx['fw']}\n"
                   f"Home ID: h_{rand_str(rng, 10, '0123456789abcdef')}  Hub: {'online' if rng.random() < 0.8 else 'offline'}  "
                   f"Wi-Fi: {pick(rng, ['2.4 GHz', '5 GHz'])}, RSSI -{rng.randrange(48, 82)} dBm\n"
                   f"Last 3 events: {', '.join(pick(rng, ['motion', 'offline', 'online', 'setpoint_change', 'clip_upload_failed', 'ring', 'firmware_check']) for _ in range(3))}")
    if rng.random() < 0.25:  # a follow-up: the customer replied above our auto-acknowledgement
        sent = fmt_date(day_in_month(rng, when, 6), rng)
        ticket += (f"\n\nOn {sent}, Halcyon Support <support@halcyonlabs.example> wrote:\n"
                   "> Thanks for contacting Halcyon Support. We've received your request and a member of our team will reply\n"
                   "> within one business day (Protect Pro members: within 4 hours). Many questions are answered in our\n"
                   "> Help Center at help.halcyonlabs.example, including device setup guides, Wi-Fi troubleshooting and\n"
                   "> billing FAQs. Please don't open a new ticket for the same issue, as that can slow down our reply.\n"
                   "> - The Halcyon Support Team")
    return ticket, label


def triage_call(rng, when) -> Call:
    ticket, label = make_ticket(rng, when)
    return Call("ticket_triage", when, TRIAGE_SYSTEM, [{"role": "user", "content": ticket}], label,
                {"temperature": 0, "max_tokens": 5}, user="support-triage-worker")


# --------------------------------------------------------------------------------------------------
# Workload: marketplace product tagging (multi-label classification into a fixed taxonomy)
# --------------------------------------------------------------------------------------------------

TAXONOMY = ["kitchen", "cookware", "small-appliances", "coffee-tea", "tableware", "home-decor", "lighting", "bedding",
            "bath", "storage", "outdoor", "garden", "camping", "pets", "kids", "fitness", "office", "electronics",
            "smart-home", "audio", "gifts", "eco-friendly", "handmade", "travel"]
TAG_GUIDE = {
    "kitchen": "food preparation and kitchen tools not covered by a more specific tag",
    "cookware": "pots, pans, skillets and bakeware that go on a hob or in an oven",
    "small-appliances": "plug-in countertop appliances (air fryers, frothers, blenders)",
    "coffee-tea": "anything for brewing or serving coffee and tea",
    "tableware": "plates, bowls, cups, cutlery and serving pieces",
    "home-decor": "decorative items: candles, throws, planters, wall art",
    "lighting": "lamps, lanterns, bulbs and outdoor lights",
    "bedding": "duvets, covers, sheets, pillows and blankets for beds",
    "bath": "bathroom textiles and accessories",
    "storage": "racks, bins, shelves and organisers",
    "outdoor": "products used outside the house: patio, path, garage, bikes",
    "garden": "plants, planters and garden lighting or tools",
    "camping": "gear designed for camping and hiking trips",
    "pets": "products for dogs, cats and other pets",
    "kids": "toys and products designed for children",
    "fitness": "exercise equipment and accessories",
    "office": "desk and home-office equipment",
    "electronics": "battery or mains powered devices with electronics inside",
    "smart-home": "devices controlled by an app or a voice assistant",
    "audio": "speakers, headphones and other sound equipment",
    "gifts": "listings that offer gift boxes or gift packaging",
    "eco-friendly": "made mainly from bamboo, recycled, organic, cork, natural rubber, soy wax or diatomite",
    "handmade": "made by hand in small batches, as the listing states",
    "travel": "products designed to be carried on trips",
}
TAGGING_SYSTEM = (
    "You tag product listings for the Halcyon Marketplace. Choose 1 to 4 tags from this taxonomy, most specific "
    "first, and reply with the tags separated by commas, nothing else.\nTaxonomy: " + ", ".join(TAXONOMY)
    + "\n\nWhat each tag means:\n" + "\n".join(f"- {tag}: {meaning}" for tag, meaning in TAG_GUIDE.items())
    + "\n\nRules: use the product's own category first, then materials (eco-friendly), then how it is made "
    "(handmade), then packaging (gifts). Never invent tags, never repeat a tag, and ignore the seller's own "
    "keywords, prices and shipping notes."
)
# (product noun, base tags, features, materials, price range)
PRODUCTS = [
    ("Cast Iron Skillet", ["cookware", "kitchen"], ["pre-seasoned with flaxseed oil", "oven safe to 500°F", "works on induction", "pour spouts on both sides"], ["cast iron"], (24, 69)),
    ("Gooseneck Pour-Over Kettle", ["coffee-tea", "kitchen"], ["built-in thermometer", "0.9 L capacity", "counterweighted handle", "precision spout for even extraction"], ["stainless steel", "matte black steel"], (29, 89)),
    ("Linen Duvet Cover", ["bedding", "home-decor"], ["stonewashed for softness", "coconut shell buttons", "corner ties keep the insert in place", "gets softer with every wash"], ["French linen", "organic linen"], (119, 289)),
    ("Bath Mat", ["bath"], ["non-slip rubber backing", "quick-drying", "machine washable", "absorbs up to 4x its weight"], ["bamboo", "cotton", "diatomite"], (18, 49)),
    ("Solar Path Lights (8-pack)", ["lighting", "garden", "outdoor"], ["auto on at dusk", "IP65 waterproof", "warm white 3000K", "no wiring needed"], ["aluminium", "recycled plastic"], (29, 59)),
    ("LED Desk Lamp", ["lighting", "office"], ["5 colour temperatures", "USB-C charging port", "memory function", "flicker-free"], ["aluminium", "oak and steel"], (35, 129)),
    ("Dog Puzzle Feeder", ["pets"], ["slows fast eaters", "dishwasher safe", "non-slip base", "three difficulty levels"], ["food-grade silicone", "recycled plastic"], (15, 39)),
    ("Wooden Stacking Rainbow", ["kids"], ["water-based paints", "for ages 12 months and up", "sanded edges", "encourages open-ended play"], ["beech wood", "linden wood"], (22, 58)),
    ("Yoga Mat", ["fitness"], ["6 mm cushioning", "alignment lines", "carrying strap included", "grippy on both sides"], ["natural rubber", "cork", "TPE"], (28, 95)),
    ("Portable Bluetooth Speaker", ["audio", "electronics"], ["20-hour battery", "IPX7 waterproof", "pairs two speakers for stereo", "built-in mic for calls"], ["fabric and aluminium", "recycled fabric"], (39, 149)),
    ("Smart Plug Mini", ["smart-home", "electronics"], ["works with Halcyon Hub, Alexa and Google Home", "energy monitoring", "schedules and away mode", "fits side by side in a duplex outlet"], ["flame-retardant PC"], (12, 29)),
    ("Ceramic Planter", ["garden", "home-decor"], ["drainage hole with cork plug", "matte reactive glaze", "fits 6-inch nursery pots", "each one slightly different"], ["stoneware", "terracotta"], (19, 64)),
    ("Insulated Water Bottle", ["travel", "fitness"], ["keeps drinks cold 24 hours", "leak-proof lid", "fits car cup holders", "powder-coated finish"], ["stainless steel", "recycled stainless steel"], (19, 45)),
    ("Rechargeable Camping Lantern", ["camping", "lighting", "outdoor"], ["up to 60 hours on low", "doubles as a power bank", "collapsible silicone shade", "red night mode"], ["ABS and silicone"], (25, 69)),
    ("Magnetic Spice Rack", ["storage", "kitchen"], ["12 glass jars with labels", "sticks to the fridge", "no drilling", "airtight lids"], ["glass and steel"], (29, 59)),
    ("Stoneware Dinner Plates (set of 4)", ["tableware", "kitchen"], ["dishwasher and microwave safe", "chip-resistant rim", "speckled glaze", "10.5-inch diameter"], ["stoneware"], (39, 96)),
    ("Electric Milk Frother", ["coffee-tea", "small-appliances"], ["hot and cold foam", "one-button operation", "non-stick interior", "auto shut-off"], ["stainless steel"], (29, 79)),
    ("Air Fryer", ["small-appliances", "kitchen"], ["5.5 quart basket", "8 presets", "shake reminder", "dishwasher-safe basket"], ["BPA-free plastic and steel"], (69, 179)),
    ("Weighted Blanket", ["bedding"], ["glass bead fill", "removable cover", "available in 12, 15 and 20 lb", "breathable for warm sleepers"], ["cotton", "bamboo viscose"], (79, 199)),
    ("Fabric Toy Storage Bins (set of 3)", ["storage", "kids"], ["collapsible", "reinforced handles", "fits cube shelves", "wipe-clean lining"], ["canvas", "felt"], (19, 42)),
    ("Noise-Cancelling Headphones", ["audio", "electronics", "travel"], ["adaptive noise cancelling", "30-hour battery", "multipoint Bluetooth", "folds flat into a case"], ["aluminium and protein leather"], (129, 349)),
    ("Hand-Poured Soy Candle", ["home-decor", "gifts"], ["45-hour burn time", "cotton wick", "scented with essential oils", "reusable glass vessel"], ["soy wax"], (18, 38)),
    ("Resistance Band Set", ["fitness", "travel"], ["five resistance levels", "door anchor and handles", "fits in the included pouch", "latex-free option"], ["natural latex", "fabric"], (19, 49)),
    ("French Press", ["coffee-tea", "kitchen"], ["double-wall insulated", "four-level filtration", "makes 8 cups", "no paper filters needed"], ["stainless steel", "borosilicate glass"], (25, 79)),
    ("Cotton Throw Blanket", ["home-decor", "bedding"], ["woven in Portugal", "tasselled edges", "50 x 60 inches", "machine washable"], ["organic cotton", "recycled cotton"], (45, 120)),
    ("Wall-Mounted Bike Rack", ["storage", "outdoor"], ["holds up to 40 lb", "protective rubber hooks", "mounting hardware included", "folds flat when empty"], ["powder-coated steel"], (29, 89)),
]
BRANDS = ["Northfield", "Ember & Oak", "Kinfolk Goods", "Tidewater", "Lumio", "Fernway", "Hearthstone", "Pebble Co.",
          "Brightwell", "Saltmarsh", "Quillon", "Mossgrove", "Atlas Home", "Juniper Lane"]
COLORS = ["charcoal", "sage green", "natural", "terracotta", "navy", "oat", "slate blue", "matte black", "white", "mustard"]
ECO_MATERIALS = ("bamboo", "recycled", "organic", "cork", "natural rubber", "soy wax", "diatomite")


def make_listing(rng: random.Random) -> tuple[str, str]:
    noun, base, feats, materials, (lo, hi) = pick(rng, PRODUCTS)
    brand, color, material = pick(rng, BRANDS), pick(rng, COLORS), pick(rng, materials)
    handmade = rng.random() < 0.15 and noun not in ("Air Fryer", "Noise-Cancelling Headphones", "Portable Bluetooth Speaker")
    gift_box = rng.random() < 0.12
    chosen = rng.sample(feats, k=min(len(feats), rng.randrange(2, 4)))
    title = f"{brand} {noun} - {color.title()}" + (f", {material[0].upper()}{material[1:]}" if rng.random() < 0.5 else "")
    desc = f"{pick(rng, ['Meet the', 'Introducing the', 'Our', 'The'])} {noun.lower()} in {color}, made from {material}. "
    desc += " ".join(f"{f[0].upper()}{f[1:]}." for f in chosen)
    if handmade:
        desc += f" Handmade in small batches by {pick(rng, ['a family workshop in Vermont', 'artisans in Porto', 'our studio in Asheville', 'a women-led cooperative in Oaxaca'])}."
    if gift_box:
        desc += " Arrives in a gift box with a handwritten note option."
    price = round(rng.uniform(lo, hi)) - 0.01
    attrs = [f"Price: ${price:.2f}", f"Material: {material}", f"Color: {color}",
             f"Seller: {pick(rng, LAST)} {pick(rng, ['Trading Co.', 'Home', 'Studio', 'Supply', 'Outfitters'])}",
             f"SKU: {brand[:3].upper()}-{rng.randrange(10000, 99999)}"]
    attrs.append(f"Dimensions: {rng.randrange(4, 60)} x {rng.randrange(4, 60)} x {rng.randrange(2, 40)} cm, {rng.randrange(1, 90) / 10:g} kg")
    attrs.append("Care: " + pick(rng, ["Wipe clean with a damp cloth.", "Machine wash cold, tumble dry low.", "Hand wash only; dry thoroughly.",
                                       "Dishwasher safe (top rack).", "Keep away from direct sunlight when not in use."]))
    attrs.append("Shipping: " + pick(rng, ["Ships in 1-2 business days from our US warehouse. Free returns within 30 days.",
                                           "Made to order, ships in 5-7 business days. Returns accepted unused within 14 days.",
                                           "Free shipping over $50. International shipping available at checkout."]))
    if rng.random() < 0.4:  # sellers stuff keywords; the prompt tells the model to ignore them
        attrs.append("Seller keywords: " + ", ".join(rng.sample(["best seller", "gift idea", "trending", "premium quality", "new arrival",
                                                                 "sale", "modern", "minimalist", "must have", "top rated"], k=4)))
    listing = f"Title: {title}\nDescription: {desc}\n" + "\n".join(attrs)
    tags = list(base)
    if handmade:
        tags.append("handmade")
    if any(m in material.lower() for m in ECO_MATERIALS):
        tags.append("eco-friendly")
    if gift_box and "gifts" not in tags:
        tags.append("gifts")
    return listing, ", ".join(tags[:4])


def tagging_call(rng, when) -> Call:
    listing, tags = make_listing(rng)
    return Call("product_tagging", when, TAGGING_SYSTEM, [{"role": "user", "content": listing}], tags,
                {"temperature": 0, "max_tokens": 30}, user="marketplace-ingest", tags=["marketplace", "tagging"])


# --------------------------------------------------------------------------------------------------
# Workload: SQL from natural language over a described schema (PostgreSQL)
# --------------------------------------------------------------------------------------------------

STORE_SCHEMA = """\
-- schema: analytics (PostgreSQL 16). Money columns are in the order currency.
CREATE TABLE customers (customer_id bigint PRIMARY KEY, email text NOT NULL, full_name text, country char(2),
  signup_at timestamptz NOT NULL, segment text CHECK (segment IN ('consumer', 'pro_installer', 'business')));
CREATE TABLE products (product_id int PRIMARY KEY, sku text UNIQUE, name text, category text
  CHECK (category IN ('thermostat', 'camera', 'doorbell', 'hub', 'sensor', 'accessory')), list_price numeric(10,2), launched_at date);
CREATE TABLE orders (order_id bigint PRIMARY KEY, customer_id bigint REFERENCES customers, status text
  CHECK (status IN ('pending', 'paid', 'shipped', 'delivered', 'cancelled', 'refunded')),
  channel text CHECK (channel IN ('web', 'app', 'retail_partner', 'marketplace')), ordered_at timestamptz NOT NULL,
  shipped_at timestamptz, total_amount numeric(12,2), currency char(3));
CREATE TABLE order_items (order_id bigint REFERENCES orders, product_id int REFERENCES products, quantity int,
  unit_price numeric(10,2), discount numeric(10,2) DEFAULT 0);
CREATE TABLE returns (return_id bigint PRIMARY KEY, order_id bigint REFERENCES orders, product_id int REFERENCES products,
  reason text, refunded_amount numeric(10,2), returned_at timestamptz);
CREATE TABLE subscriptions (subscription_id bigint PRIMARY KEY, customer_id bigint REFERENCES customers,
  plan text CHECK (plan IN ('basic', 'plus', 'pro')), status text CHECK (status IN ('active', 'past_due', 'cancelled')),
  started_at timestamptz, cancelled_at timestamptz, monthly_price numeric(8,2));
CREATE TABLE devices (device_id uuid PRIMARY KEY, customer_id bigint REFERENCES customers, product_id int REFERENCES products,
  activated_at timestamptz, last_seen_at timestamptz, firmware text);
-- Tables below are rarely needed; they are listed so you know what exists and do not invent columns.
CREATE TABLE customer_addresses (address_id bigint PRIMARY KEY, customer_id bigint REFERENCES customers,
  kind text CHECK (kind IN ('billing', 'shipping')), line1 text, line2 text, city text, region text, postal_code text,
  country char(2), is_default boolean DEFAULT false, created_at timestamptz);
CREATE TABLE payments (payment_id bigint PRIMARY KEY, order_id bigint REFERENCES orders,
  method text CHECK (method IN ('card', 'paypal', 'apple_pay', 'google_pay', 'invoice')),
  status text CHECK (status IN ('authorized', 'captured', 'failed', 'refunded', 'chargeback')),
  amount numeric(12,2), currency char(3), processor_ref text, created_at timestamptz NOT NULL);
CREATE TABLE refunds (refund_id bigint PRIMARY KEY, payment_id bigint REFERENCES payments, return_id bigint REFERENCES returns,
  amount numeric(12,2), reason_code text, issued_at timestamptz);
CREATE TABLE shipments (shipment_id bigint PRIMARY KEY, order_id bigint REFERENCES orders, warehouse_id int,
  carrier text CHECK (carrier IN ('ups', 'fedex', 'usps', 'dhl', 'royal_mail', 'postnl')), tracking_number text,
  shipped_at timestamptz, delivered_at timestamptz, cost numeric(8,2));
CREATE TABLE warehouses (warehouse_id int PRIMARY KEY, code text UNIQUE, city text, country char(2), operator text);
CREATE TABLE inventory_snapshots (warehouse_id int REFERENCES warehouses, product_id int REFERENCES products,
  snapshot_date date, on_hand int, reserved int, inbound int, PRIMARY KEY (warehouse_id, product_id, snapshot_date));
CREATE TABLE promotions (promotion_id int PRIMARY KEY, code text UNIQUE, kind text CHECK (kind IN ('percent', 'amount', 'bundle')),
  value numeric(8,2), starts_at timestamptz, ends_at timestamptz, max_redemptions int);
CREATE TABLE order_promotions (order_id bigint REFERENCES orders, promotion_id int REFERENCES promotions,
  discount_amount numeric(10,2), PRIMARY KEY (order_id, promotion_id));
CREATE TABLE subscription_events (event_id bigint PRIMARY KEY, subscription_id bigint REFERENCES subscriptions,
  kind text CHECK (kind IN ('started', 'upgraded', 'downgraded', 'paused', 'resumed', 'cancelled', 'payment_failed')),
  from_plan text, to_plan text, occurred_at timestamptz NOT NULL);
CREATE TABLE firmware_releases (firmware text PRIMARY KEY, product_category text, released_at timestamptz,
  rollout_pct smallint CHECK (rollout_pct BETWEEN 0 AND 100), is_recalled boolean DEFAULT false, notes text);
CREATE TABLE device_events (device_id uuid REFERENCES devices, occurred_at timestamptz NOT NULL,
  kind text CHECK (kind IN ('online', 'offline', 'motion', 'ring', 'setpoint_change', 'clip_upload', 'clip_upload_failed',
  'firmware_update', 'battery_low', 'tamper')), payload jsonb);  -- ~2 billion rows; always filter on occurred_at
CREATE TABLE web_sessions (session_id uuid PRIMARY KEY, customer_id bigint REFERENCES customers, started_at timestamptz,
  landing_page text, utm_source text, utm_medium text, utm_campaign text, device_type text, converted_order_id bigint REFERENCES orders);
CREATE TABLE marketing_touches (touch_id bigint PRIMARY KEY, customer_id bigint REFERENCES customers,
  channel text CHECK (channel IN ('email', 'push', 'sms', 'paid_social', 'search', 'affiliate')), campaign text,
  sent_at timestamptz, opened_at timestamptz, clicked_at timestamptz);
CREATE TABLE exchange_rates (currency char(3), rate_date date, usd_per_unit numeric(12,6), PRIMARY KEY (currency, rate_date));
CREATE TABLE retail_partners (partner_id int PRIMARY KEY, name text, country char(2), margin_pct numeric(5,2), active boolean);
CREATE TABLE partner_sell_through (partner_id int REFERENCES retail_partners, product_id int REFERENCES products,
  week date, units_sold int, units_returned int, PRIMARY KEY (partner_id, product_id, week));
CREATE TABLE installer_jobs (job_id bigint PRIMARY KEY, customer_id bigint REFERENCES customers, installer_name text,
  product_id int REFERENCES products, scheduled_for timestamptz, completed_at timestamptz,
  status text CHECK (status IN ('scheduled', 'completed', 'no_show', 'cancelled')), fee numeric(8,2));
CREATE TABLE nps_responses (response_id bigint PRIMARY KEY, customer_id bigint REFERENCES customers,
  score smallint CHECK (score BETWEEN 0 AND 10), comment text, submitted_at timestamptz);"""

SUPPORT_SCHEMA = """\
-- schema: support (PostgreSQL 16)
CREATE TABLE agents (agent_id int PRIMARY KEY, full_name text, team text CHECK (team IN ('tier1', 'tier2', 'billing', 'installers')),
  hired_at date, active boolean);
CREATE TABLE tickets (ticket_id bigint PRIMARY KEY, customer_id bigint, created_at timestamptz NOT NULL,
  channel text CHECK (channel IN ('email', 'chat', 'phone', 'web')), label text, priority smallint,
  assigned_agent_id int REFERENCES agents, first_response_at timestamptz, resolved_at timestamptz, reopened boolean DEFAULT false);
CREATE TABLE csat_responses (ticket_id bigint REFERENCES tickets, score smallint CHECK (score BETWEEN 1 AND 5),
  comment text, submitted_at timestamptz);
CREATE TABLE ticket_messages (message_id bigint PRIMARY KEY, ticket_id bigint REFERENCES tickets,
  author text CHECK (author IN ('customer', 'agent', 'bot')), body text, sent_at timestamptz NOT NULL);
CREATE TABLE ticket_tags (ticket_id bigint REFERENCES tickets, tag text, added_at timestamptz, PRIMARY KEY (ticket_id, tag));
CREATE TABLE macros (macro_id int PRIMARY KEY, name text, team text, body text, created_at timestamptz, archived boolean);
CREATE TABLE macro_uses (ticket_id bigint REFERENCES tickets, macro_id int REFERENCES macros, used_at timestamptz);
CREATE TABLE agent_shifts (agent_id int REFERENCES agents, shift_start timestamptz, shift_end timestamptz,
  kind text CHECK (kind IN ('regular', 'overtime', 'weekend', 'on_call')));
CREATE TABLE sla_policies (priority smallint PRIMARY KEY, first_response_hours int, resolution_hours int);
CREATE TABLE escalations (ticket_id bigint REFERENCES tickets, from_team text, to_team text, reason text, escalated_at timestamptz);"""

SQL_CONVENTIONS = """Conventions (from the analytics team's style guide):
- Revenue is orders.total_amount of orders whose status is not 'cancelled' or 'refunded', unless the question says otherwise.
- Timestamps are timestamptz in UTC. A month or a year is a half-open range: >= the first day, < the first day of the next period.
- "Last N days" means >= now() - interval 'N days'. Weeks start on Monday (date_trunc('week', ...)).
- Country columns hold ISO 3166-1 alpha-2 codes ('US', 'GB', 'DE', ...). Plans are lower case ('basic', 'plus', 'pro').
- Percentages are ROUND(100.0 * part / whole, 1 or 2). Guard divisions that can be zero with NULLIF.
- Prefer explicit JOINs with table aliases, GROUP BY ordinal positions only for a single date_trunc column, and ORDER BY the
  measure the question ranks by. Use LIMIT only when the question asks for a top N.
- device_events is very large; any query on it must filter on occurred_at. Never SELECT * from it.
- Do not create temporary tables, views or functions; the connection is read-only."""

SQL_SYSTEM = ("You write SQL for Halcyon's analysts. Dialect: PostgreSQL 16. Use only the tables and columns in "
              "the schema below. Return a single SQL query and nothing else: no explanation, no comments.\n\n"
              + SQL_CONVENTIONS.replace("{", "{{").replace("}", "}}") + "\n\n{schema}")

COUNTRIES = [("US", "the US"), ("GB", "the UK"), ("DE", "Germany"), ("CA", "Canada"), ("NL", "the Netherlands"),
             ("FR", "France"), ("AU", "Australia"), ("SE", "Sweden")]
CATEGORIES = ["thermostat", "camera", "doorbell", "hub", "sensor", "accessory"]
SQL_CHANNELS = ["web", "app", "retail_partner", "marketplace"]
LABELS_SQL = ["billing", "refund_request", "connectivity", "device_setup", "bug_report"]


def _sql_params(rng: random.Random) -> dict:
    year = pick(rng, [2025, 2026])
    month = rng.randrange(1, 10) if year == 2026 else rng.randrange(1, 13)
    cc, country = pick(rng, COUNTRIES)
    q = rng.randrange(1, 4) if year == 2026 else rng.randrange(1, 5)
    return {
        "year": year, "next_year": year + 1, "month": month, "month_name": MONTHS[month - 1],
        "month_start": f"{year}-{month:02d}-01",
        "month_end": f"{year + (month == 12)}-{month % 12 + 1:02d}-01",
        "cc": cc, "country": country, "n": pick(rng, [5, 10, 10, 20, 25]), "days": pick(rng, [7, 14, 30, 90]),
        "k": pick(rng, [2, 3, 5]), "category": pick(rng, CATEGORIES), "channel": pick(rng, SQL_CHANNELS),
        "plan": pick(rng, ["basic", "plus", "pro"]), "q": q, "q_start": f"{year}-{3 * (q - 1) + 1:02d}-01",
        "q_end": f"{year + (q == 4)}-{(3 * q) % 12 + 1:02d}-01", "label": pick(rng, LABELS_SQL),
        "hours": pick(rng, [4, 8, 24, 48]), "score": pick(rng, [2, 3]),
    }


# (schema, questions (alternative phrasings), SQL)
SQL_TASKS = [
    ("store", ["What was total revenue per month in {year}, excluding cancelled and refunded orders?",
               "monthly revenue for {year}, leave out cancelled/refunded orders"],
     """SELECT date_trunc('month', ordered_at) AS month,
       SUM(total_amount) AS revenue
FROM orders
WHERE status NOT IN ('cancelled', 'refunded')
  AND ordered_at >= '{year}-01-01'
  AND ordered_at < '{next_year}-01-01'
GROUP BY 1
ORDER BY 1;"""),
    ("store", ["Top {n} products by units sold in the {category} category over the last {days} days",
               "Which {n} {category} products sold the most units in the past {days} days?"],
     """SELECT p.product_id, p.name, SUM(oi.quantity) AS units_sold
FROM order_items oi
JOIN orders o ON o.order_id = oi.order_id
JOIN products p ON p.product_id = oi.product_id
WHERE p.category = '{category}'
  AND o.status NOT IN ('cancelled', 'refunded')
  AND o.ordered_at >= now() - interval '{days} days'
GROUP BY p.product_id, p.name
ORDER BY units_sold DESC
LIMIT {n};"""),
    ("store", ["Which customers in {country} placed more than {k} orders in {year}? Show name, email and number of orders.",
               "list customers from {country} with over {k} orders during {year} (name, email, order count)"],
     """SELECT c.customer_id, c.full_name, c.email, COUNT(*) AS order_count
FROM customers c
JOIN orders o ON o.customer_id = c.customer_id
WHERE c.country = '{cc}'
  AND o.ordered_at >= '{year}-01-01'
  AND o.ordered_at < '{next_year}-01-01'
  AND o.status <> 'cancelled'
GROUP BY c.customer_id, c.full_name, c.email
HAVING COUNT(*) > {k}
ORDER BY order_count DESC;"""),
    ("store", ["Average order value by channel for Q{q} {year}", "AOV per sales channel in Q{q} of {year}?"],
     """SELECT channel, ROUND(AVG(total_amount), 2) AS avg_order_value, COUNT(*) AS orders
FROM orders
WHERE ordered_at >= '{q_start}'
  AND ordered_at < '{q_end}'
  AND status NOT IN ('cancelled', 'refunded')
GROUP BY channel
ORDER BY avg_order_value DESC;"""),
    ("store", ["Return rate by product category for orders placed in {month_name} {year}",
               "what % of units were returned per category, {month_name} {year} orders"],
     """SELECT p.category,
       SUM(oi.quantity) AS units_sold,
       COUNT(r.return_id) AS units_returned,
       ROUND(100.0 * COUNT(r.return_id) / NULLIF(SUM(oi.quantity), 0), 2) AS return_rate_pct
FROM order_items oi
JOIN orders o ON o.order_id = oi.order_id
JOIN products p ON p.product_id = oi.product_id
LEFT JOIN returns r ON r.order_id = oi.order_id AND r.product_id = oi.product_id
WHERE o.ordered_at >= '{month_start}'
  AND o.ordered_at < '{month_end}'
GROUP BY p.category
ORDER BY return_rate_pct DESC;"""),
    ("store", ["How many new customers signed up each week in {year}?", "weekly signups for {year}"],
     """SELECT date_trunc('week', signup_at) AS week, COUNT(*) AS new_customers
FROM customers
WHERE signup_at >= '{year}-01-01'
  AND signup_at < '{next_year}-01-01'
GROUP BY 1
ORDER BY 1;"""),
    ("store", ["Customers who ordered at least {k} times before but nothing in the last {days} days",
               "find lapsed customers: {k}+ lifetime orders, none in {days} days"],
     """SELECT c.customer_id, c.full_name, c.email, COUNT(o.order_id) AS lifetime_orders, MAX(o.ordered_at) AS last_order_at
FROM customers c
JOIN orders o ON o.customer_id = c.customer_id
WHERE o.status NOT IN ('cancelled', 'refunded')
GROUP BY c.customer_id, c.full_name, c.email
HAVING COUNT(o.order_id) >= {k}
   AND MAX(o.ordered_at) < now() - interval '{days} days'
ORDER BY last_order_at;"""),
    ("store", ["Median days from signup to first order, by segment", "by customer segment, what's the median time between signup and the first order (in days)?"],
     """WITH first_orders AS (
  SELECT customer_id, MIN(ordered_at) AS first_order_at
  FROM orders
  WHERE status <> 'cancelled'
  GROUP BY customer_id
)
SELECT c.segment,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY EXTRACT(EPOCH FROM (f.first_order_at - c.signup_at)) / 86400) AS median_days
FROM customers c
JOIN first_orders f ON f.customer_id = c.customer_id
GROUP BY c.segment;"""),
    ("store", ["Monthly recurring revenue by plan as of today", "current MRR split by subscription plan"],
     """SELECT plan, COUNT(*) AS active_subscriptions, SUM(monthly_price) AS mrr
FROM subscriptions
WHERE status = 'active'
GROUP BY plan
ORDER BY mrr DESC;"""),
    ("store", ["How many {plan} subscriptions were cancelled each month in {year}?", "monthly churn count for the {plan} plan in {year}"],
     """SELECT date_trunc('month', cancelled_at) AS month, COUNT(*) AS cancellations
FROM subscriptions
WHERE plan = '{plan}'
  AND cancelled_at >= '{year}-01-01'
  AND cancelled_at < '{next_year}-01-01'
GROUP BY 1
ORDER BY 1;"""),
    ("store", ["Which firmware versions are running on {category} devices seen in the last {days} days, and how many devices each?",
               "device count per firmware for active {category}s (seen within {days} days)"],
     """SELECT d.firmware, COUNT(*) AS devices
FROM devices d
JOIN products p ON p.product_id = d.product_id
WHERE p.category = '{category}'
  AND d.last_seen_at >= now() - interval '{days} days'
GROUP BY d.firmware
ORDER BY devices DESC;"""),
    ("store", ["Share of customers with a {category} who also have an active subscription, by country",
               "attach rate of subscriptions among {category} owners per country"],
     """SELECT c.country,
       COUNT(DISTINCT c.customer_id) AS owners,
       COUNT(DISTINCT s.customer_id) AS subscribed,
       ROUND(100.0 * COUNT(DISTINCT s.customer_id) / COUNT(DISTINCT c.customer_id), 1) AS attach_rate_pct
FROM customers c
JOIN devices d ON d.customer_id = c.customer_id
JOIN products p ON p.product_id = d.product_id
LEFT JOIN subscriptions s ON s.customer_id = c.customer_id AND s.status = 'active'
WHERE p.category = '{category}'
GROUP BY c.country
ORDER BY owners DESC;"""),
    ("store", ["Average days between order and shipment per month in {year} for the {channel} channel",
               "how long did {channel} orders take to ship each month of {year}"],
     """SELECT date_trunc('month', ordered_at) AS month,
       ROUND(AVG(EXTRACT(EPOCH FROM (shipped_at - ordered_at)) / 86400)::numeric, 2) AS avg_days_to_ship
FROM orders
WHERE channel = '{channel}'
  AND shipped_at IS NOT NULL
  AND ordered_at >= '{year}-01-01'
  AND ordered_at < '{next_year}-01-01'
GROUP BY 1
ORDER BY 1;"""),
    ("store", ["Top {n} customers by lifetime spend in {country}", "who are our {n} biggest spenders in {country}?"],
     """SELECT c.customer_id, c.full_name, c.email, SUM(o.total_amount) AS lifetime_spend
FROM customers c
JOIN orders o ON o.customer_id = c.customer_id
WHERE c.country = '{cc}'
  AND o.status NOT IN ('cancelled', 'refunded')
GROUP BY c.customer_id, c.full_name, c.email
ORDER BY lifetime_spend DESC
LIMIT {n};"""),
    ("store", ["Most common return reasons for {category} products in {year}", "{category} returns in {year}: reasons ranked by count, with refunded total"],
     """SELECT r.reason, COUNT(*) AS returns, SUM(r.refunded_amount) AS refunded_total
FROM returns r
JOIN products p ON p.product_id = r.product_id
WHERE p.category = '{category}'
  AND r.returned_at >= '{year}-01-01'
  AND r.returned_at < '{next_year}-01-01'
GROUP BY r.reason
ORDER BY returns DESC;"""),
    ("store", ["Running total of revenue by day for {month_name} {year}", "cumulative daily revenue in {month_name} {year}"],
     """SELECT day, revenue, SUM(revenue) OVER (ORDER BY day) AS running_total
FROM (
  SELECT date_trunc('day', ordered_at) AS day, SUM(total_amount) AS revenue
  FROM orders
  WHERE status NOT IN ('cancelled', 'refunded')
    AND ordered_at >= '{month_start}'
    AND ordered_at < '{month_end}'
  GROUP BY 1
) daily
ORDER BY day;"""),
    ("store", ["Products launched in {year} that have never been ordered", "any {year} launches with zero orders?"],
     """SELECT p.product_id, p.sku, p.name, p.launched_at
FROM products p
WHERE p.launched_at >= '{year}-01-01'
  AND p.launched_at < '{next_year}-01-01'
  AND NOT EXISTS (SELECT 1 FROM order_items oi WHERE oi.product_id = p.product_id)
ORDER BY p.launched_at;"""),
    ("store", ["For each category, the best-selling product by revenue in {year}", "top product per category by {year} revenue"],
     """SELECT category, product_id, name, revenue
FROM (
  SELECT p.category, p.product_id, p.name,
         SUM(oi.quantity * oi.unit_price - oi.discount) AS revenue,
         ROW_NUMBER() OVER (PARTITION BY p.category ORDER BY SUM(oi.quantity * oi.unit_price - oi.discount) DESC) AS rn
  FROM order_items oi
  JOIN orders o ON o.order_id = oi.order_id
  JOIN products p ON p.product_id = oi.product_id
  WHERE o.ordered_at >= '{year}-01-01'
    AND o.ordered_at < '{next_year}-01-01'
    AND o.status NOT IN ('cancelled', 'refunded')
  GROUP BY p.category, p.product_id, p.name
) ranked
WHERE rn = 1
ORDER BY revenue DESC;"""),
    ("support", ["Median first response time in hours per channel over the last {days} days",
                 "what's our median time to first response by channel, last {days} days?"],
     """SELECT channel,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY EXTRACT(EPOCH FROM (first_response_at - created_at)) / 3600) AS median_hours
FROM tickets
WHERE created_at >= now() - interval '{days} days'
  AND first_response_at IS NOT NULL
GROUP BY channel
ORDER BY median_hours;"""),
    ("support", ["Average CSAT score per agent team in {month_name} {year}", "CSAT by team for {month_name} {year}"],
     """SELECT a.team, ROUND(AVG(c.score), 2) AS avg_csat, COUNT(*) AS responses
FROM csat_responses c
JOIN tickets t ON t.ticket_id = c.ticket_id
JOIN agents a ON a.agent_id = t.assigned_agent_id
WHERE c.submitted_at >= '{month_start}'
  AND c.submitted_at < '{month_end}'
GROUP BY a.team
ORDER BY avg_csat DESC;"""),
    ("support", ["How many {label} tickets took more than {hours} hours to resolve in the last {days} days, per week?",
                 "weekly count of {label} tickets resolved slower than {hours}h (last {days} days)"],
     """SELECT date_trunc('week', created_at) AS week, COUNT(*) AS slow_tickets
FROM tickets
WHERE label = '{label}'
  AND resolved_at - created_at > interval '{hours} hours'
  AND created_at >= now() - interval '{days} days'
GROUP BY 1
ORDER BY 1;"""),
    ("support", ["Agents with the highest reopen rate this quarter (at least 20 tickets)", "which agents have the most reopened tickets proportionally since the quarter started? min 20 tickets"],
     """SELECT a.agent_id, a.full_name,
       COUNT(*) AS tickets,
       ROUND(100.0 * SUM(CASE WHEN t.reopened THEN 1 ELSE 0 END) / COUNT(*), 1) AS reopen_rate_pct
FROM tickets t
JOIN agents a ON a.agent_id = t.assigned_agent_id
WHERE t.created_at >= date_trunc('quarter', now())
GROUP BY a.agent_id, a.full_name
HAVING COUNT(*) >= 20
ORDER BY reopen_rate_pct DESC;"""),
    ("support", ["Ticket volume by label and channel for {month_name} {year}", "{month_name} {year} tickets broken down by label x channel"],
     """SELECT label, channel, COUNT(*) AS tickets
FROM tickets
WHERE created_at >= '{month_start}'
  AND created_at < '{month_end}'
GROUP BY label, channel
ORDER BY tickets DESC;"""),
    ("support", ["List comments from CSAT responses with a score of {score} or lower in the last {days} days, newest first",
                 "show me the unhappy CSAT comments (score <= {score}) from the past {days} days"],
     """SELECT t.ticket_id, t.label, c.score, c.comment, c.submitted_at
FROM csat_responses c
JOIN tickets t ON t.ticket_id = c.ticket_id
WHERE c.score <= {score}
  AND c.submitted_at >= now() - interval '{days} days'
  AND c.comment IS NOT NULL
ORDER BY c.submitted_at DESC;"""),
]


def sql_call(rng, when) -> Call:
    schema, questions, sql = pick(rng, SQL_TASKS)
    p = _sql_params(rng)
    question = pick(rng, questions).format(**p)
    if rng.random() < 0.2:
        question = pick(rng, ["Can you write a query for this: ", "Need SQL: ", "Quick one - ", ""]) + question[0].lower() + question[1:]
    answer = sql.format(**p)
    if rng.random() < 0.12:  # the model sometimes fences the query despite the instruction
        answer = f"```sql\n{answer}\n```"
    system = SQL_SYSTEM.format(schema=STORE_SCHEMA if schema == "store" else SUPPORT_SCHEMA)
    return Call("sql_generation", when, system, [{"role": "user", "content": question}], answer,
                {"temperature": 0, "max_tokens": 800}, user=f"bi-{pick(rng, ['looker', 'slackbot', 'notebook'])}")


# --------------------------------------------------------------------------------------------------
# Workload: SVG icons for the design system (and a few illustrations)
# --------------------------------------------------------------------------------------------------

def _j(rng: random.Random, v: float, spread: float = 0.5) -> str:
    """Jitter a coordinate a little, so two answers for the same icon are not byte-identical."""
    x = v + rng.choice([-spread, 0, 0, spread])
    return f"{x:g}"


def _icon_home(r):
    return [f'<path d="M3 10.5 12 3l9 7.5"/>', f'<path d="M5 9.5V20a1 1 0 0 0 1 1h{_j(r, 4)}v-6h4v6h4a1 1 0 0 0 1-1V9.5"/>']


def _icon_bell(r):
    return ['<path d="M18 8a6 6 0 0 0-12 0c0 7-3 9-3 9h18s-3-2-3-9"/>', f'<path d="M13.7 {_j(r, 21)}a2 2 0 0 1-3.4 0"/>']


def _icon_lock(r):
    rx = pick(r, ["2", "1.5", "2.5"])
    return [f'<rect x="4" y="11" width="16" height="10" rx="{rx}"/>', '<path d="M8 11V7a4 4 0 0 1 8 0v4"/>',
            '<circle cx="12" cy="16" r="1.25"/>']


def _icon_unlock(r):
    return ['<rect x="4" y="11" width="16" height="10" rx="2"/>', '<path d="M8 11V7a4 4 0 0 1 7.75-1.4"/>']


def _icon_calendar(r):
    return ['<rect x="3" y="4.5" width="18" height="16.5" rx="2"/>', '<path d="M16 2.5v4M8 2.5v4M3 10h18"/>',
            f'<path d="M8 14h.01M12 14h.01M16 14h.01M8 {_j(r, 17.5)}h.01M12 17.5h.01"/>']


def _icon_camera(r):
    return ['<path d="M23 19a2 2 0 0 1-2 2H3a2 2 0 0 1-2-2V8a2 2 0 0 1 2-2h4l2-3h6l2 3h4a2 2 0 0 1 2 2z"/>',
            f'<circle cx="12" cy="13" r="{_j(r, 4)}"/>']


def _icon_security_cam(r):
    return ['<path d="M3 7.5 17 3l2 6-14 4.5z"/>', '<path d="M11 11.5 12.5 16H16"/>', '<path d="M3 13v6h2"/>',
            f'<circle cx="{_j(r, 15)}" cy="6.5" r="1"/>']


def _icon_thermometer(r):
    return ['<path d="M14 14.76V3.5a2.5 2.5 0 0 0-5 0v11.26a4.5 4.5 0 1 0 5 0z"/>', f'<path d="M11.5 {_j(r, 17)}V9"/>']


def _icon_wifi(r):
    return ['<path d="M5 12.55a11 11 0 0 1 14.08 0"/>', '<path d="M1.42 9a16 16 0 0 1 21.16 0"/>',
            '<path d="M8.53 16.11a6 6 0 0 1 6.95 0"/>', '<path d="M12 20h.01"/>']


def _icon_wifi_off(r):
    return _icon_wifi(r) + ['<path d="M2 2l20 20"/>']


def _icon_battery(r):
    level = pick(r, [4, 7, 10, 13])
    return ['<rect x="2" y="7" width="18" height="10" rx="2"/>', '<path d="M22 11v2"/>',
            f'<path d="M5 10v4M{5 + level / 3:g} 10v4"/>']


def _icon_cloud(r):
    return [f'<path d="M18 10h-1.26A8 8 0 1 0 9 20h9a5 5 0 0 0 0-{_j(r, 10)}z"/>']


def _icon_cloud_upload(r):
    return ['<path d="M20.4 18.4A5 5 0 0 0 18 9h-1.3A8 8 0 1 0 4 16.3"/>', '<path d="M16 16l-4-4-4 4"/>', '<path d="M12 12v9"/>']


def _icon_download(r):
    return ['<path d="M21 15v4a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2v-4"/>', '<path d="M7 10l5 5 5-5"/>', f'<path d="M12 15V{_j(r, 3)}"/>']


def _icon_search(r):
    return [f'<circle cx="11" cy="11" r="{_j(r, 7)}"/>', '<path d="M21 21l-4.35-4.35"/>']


def _icon_settings(r):
    spokes = []
    for i in range(8):
        a = math.radians(i * 45)
        x1, y1 = 12 + 6.5 * math.cos(a), 12 + 6.5 * math.sin(a)
        x2, y2 = 12 + 9.5 * math.cos(a), 12 + 9.5 * math.sin(a)
        spokes.append(f"M{x1:.2f} {y1:.2f}L{x2:.2f} {y2:.2f}")
    return [f'<circle cx="12" cy="12" r="{pick(r, ["3", "3.5"])}"/>', '<circle cx="12" cy="12" r="6.5"/>', f'<path d="{" ".join(spokes)}"/>']


def _icon_user(r):
    return ['<path d="M20 21v-2a4 4 0 0 0-4-4H8a4 4 0 0 0-4 4v2"/>', f'<circle cx="12" cy="7" r="{_j(r, 4)}"/>']


def _icon_users(r):
    return ['<path d="M17 21v-2a4 4 0 0 0-4-4H5a4 4 0 0 0-4 4v2"/>', '<circle cx="9" cy="7" r="4"/>',
            '<path d="M23 21v-2a4 4 0 0 0-3-3.87M16 3.13a4 4 0 0 1 0 7.75"/>']


def _icon_mail(r):
    return ['<rect x="2" y="4" width="20" height="16" rx="2"/>', f'<path d="M22 6l-10 {_j(r, 7)}L2 6"/>']


def _icon_cart(r):
    return ['<circle cx="9" cy="20" r="1.5"/>', '<circle cx="18" cy="20" r="1.5"/>',
            f'<path d="M1 1h4l2.7 13.4a2 2 0 0 0 2 1.6h9.7a2 2 0 0 0 2-1.6L{_j(r, 23)} 6H6"/>']


def _icon_shield(r):
    return ['<path d="M12 22s8-4 8-10V5l-8-3-8 3v7c0 6 8 10 8 10z"/>'] + (['<path d="M9 12l2 2 4-4"/>'] if r.random() < 0.6 else [])


def _icon_alert(r):
    return ['<path d="M10.3 3.86 1.82 18a2 2 0 0 0 1.7 3h16.96a2 2 0 0 0 1.7-3L13.7 3.86a2 2 0 0 0-3.4 0z"/>',
            f'<path d="M12 9v{_j(r, 4)}M12 17h.01"/>']


def _icon_check_circle(r):
    return [f'<circle cx="12" cy="12" r="{_j(r, 10)}"/>', '<path d="M8 12.5l2.5 2.5L16 9.5"/>']


def _icon_plug(r):
    return ['<path d="M9 2v6M15 2v6"/>', '<path d="M6 8h12v3a6 6 0 0 1-12 0z"/>', f'<path d="M12 17v{_j(r, 5)}"/>']


def _icon_droplet(r):
    return [f'<path d="M12 2.7 17.7 8.4a8 8 0 1 1-11.3 0z"/>'] + (['<path d="M9 15a3 3 0 0 0 3 3"/>'] if r.random() < 0.5 else [])


def _icon_sun(r):
    rays = "M12 1v2M12 21v2M4.22 4.22l1.42 1.42M18.36 18.36l1.42 1.42M1 12h2M21 12h2M4.22 19.78l1.42-1.42M18.36 5.64l1.42-1.42"
    return [f'<circle cx="12" cy="12" r="{_j(r, 5)}"/>', f'<path d="{rays}"/>']


def _icon_moon(r):
    return [f'<path d="M21 12.8A9 9 0 1 1 11.2 3a7 7 0 0 0 {_j(r, 9.8)} 9.8z"/>']


def _icon_door(r):
    return ['<path d="M3 21h18"/>', '<path d="M6 21V4a1 1 0 0 1 1-1h10a1 1 0 0 1 1 1v17"/>', f'<circle cx="{_j(r, 14.5)}" cy="12" r="1"/>']


def _icon_chart(r):
    heights = [r.randrange(6, 16) for _ in range(3)]
    bars = " ".join(f"M{x} 20V{20 - h}" for x, h in zip((6, 12, 18), heights))
    return ['<path d="M3 3v18h18"/>', f'<path d="{bars}"/>']


ICONS = {  # concept -> (builder, UI contexts in which product teams ask for it)
    "home": (_icon_home, ["home screen tab", "'My Home' switcher", "navigation rail"]),
    "bell": (_icon_bell, ["doorbell ring events", "notification settings", "alert inbox"]),
    "lock": (_icon_lock, ["smart lock status: locked", "privacy mode toggle", "two-factor settings"]),
    "unlock": (_icon_unlock, ["smart lock status: unlocked", "guest access"]),
    "calendar": (_icon_calendar, ["thermostat schedule", "vacation mode dates", "event history filter"]),
    "camera": (_icon_camera, ["snapshot button", "camera list", "photo capture"]),
    "security camera": (_icon_security_cam, ["outdoor camera device tile", "add a camera wizard"]),
    "thermometer": (_icon_thermometer, ["indoor temperature reading", "thermostat device tile", "heat alert"]),
    "wifi": (_icon_wifi, ["device online status", "network settings"]),
    "wifi off": (_icon_wifi_off, ["device offline banner", "connection lost state"]),
    "battery": (_icon_battery, ["sensor battery level", "doorbell battery"]),
    "cloud": (_icon_cloud, ["cloud recording plan", "sync status"]),
    "cloud upload": (_icon_cloud_upload, ["clip upload progress", "backup now button"]),
    "download": (_icon_download, ["download clip", "export history"]),
    "search": (_icon_search, ["search clips", "device search"]),
    "settings": (_icon_settings, ["device settings", "account settings"]),
    "user": (_icon_user, ["profile tab", "account owner badge"]),
    "users": (_icon_users, ["household members", "shared access"]),
    "mail": (_icon_mail, ["email alerts", "invite by email"]),
    "shopping cart": (_icon_cart, ["accessory store", "checkout button"]),
    "shield": (_icon_shield, ["Halcyon Protect plan badge", "security status", "privacy center"]),
    "alert triangle": (_icon_alert, ["leak detected warning", "firmware error", "tamper alert"]),
    "check circle": (_icon_check_circle, ["setup complete", "all devices healthy"]),
    "plug": (_icon_plug, ["smart plug device tile", "energy usage"]),
    "droplet": (_icon_droplet, ["leak sensor tile", "humidity reading"]),
    "sun": (_icon_sun, ["day mode schedule", "outdoor light sensor"]),
    "moon": (_icon_moon, ["night mode", "sleep schedule"]),
    "door": (_icon_door, ["contact sensor: front door", "entry events"]),
    "bar chart": (_icon_chart, ["energy report", "usage insights"]),
}

SVG_SYSTEM = ("You design icons for Lumen, Halcyon's design system. Icons are outline style on a 24x24 grid with "
              "2px padding, stroke=\"currentColor\", no fills unless asked, round caps and joins. Output only the "
              "SVG markup: no prose, no code fences, no <title>, no width/height unless asked.\n\n"
              "## Lumen icon guidelines (v3.2)\n"
              "Grid and keylines: draw inside the 20x20 live area (2 to 22 on both axes). Circles sit on a 20px keyline, "
              "squares on an 18px keyline, portrait rectangles 16x20, landscape rectangles 20x16. Align vertical and "
              "horizontal strokes to whole or half pixels so they stay sharp at 16px.\n"
              "Strokes: the default stroke width is 2; the product teams may ask for 1.5 or 1.75 for dense toolbars. "
              "Never mix stroke widths inside one icon. Use stroke-linecap=\"round\" and stroke-linejoin=\"round\" on "
              "the root element, not on children.\n"
              "Corners: outer corners have a radius of 2, inner corners 1. Arcs use the SVG arc command rather than "
              "approximations with curves.\n"
              "Elements: prefer <path>, <circle>, <rect> and <line>; never use <polygon> with fills, <text>, <image>, "
              "<use>, masks, filters, gradients or inline styles. Combine segments of the same shape into one path "
              "where it keeps the markup readable. Coordinates have at most two decimals.\n"
              "Metaphors: a device icon shows the device's silhouette (thermostat: circle with a short needle; camera: "
              "lens in a rounded body; doorbell: tall rounded rectangle with a button). States (off, alert, locked) "
              "are shown with a diagonal slash or a small badge in the top-right quadrant, never with colour.\n"
              "Accessibility: icons are decorative by default; the app adds aria-label, so do not add <title> or "
              "<desc>. Keep at least 2px between separate shapes so the icon reads at 16px.\n"
              "Illustrations (only when the request says so): a viewBox of the requested size, flat fills from the "
              "brand palette (#1a202c ink, #2b6cb0 blue, #ecc94b amber, #e2e8f0 mist, #744210 brown, #f6e05e glow), "
              "no strokes thinner than 2, no gradients.\n\n"
              "## Examples from the library\n"
              "plus: <svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 24 24\" fill=\"none\" stroke=\"currentColor\" "
              "stroke-width=\"2\" stroke-linecap=\"round\" stroke-linejoin=\"round\"><path d=\"M12 5v14M5 12h14\"/></svg>\n"
              "clock: <svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 24 24\" fill=\"none\" stroke=\"currentColor\" "
              "stroke-width=\"2\" stroke-linecap=\"round\" stroke-linejoin=\"round\"><circle cx=\"12\" cy=\"12\" r=\"10\"/>"
              "<path d=\"M12 6v6l4 2\"/></svg>\n"
              "trash: <svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 24 24\" fill=\"none\" stroke=\"currentColor\" "
              "stroke-width=\"2\" stroke-linecap=\"round\" stroke-linejoin=\"round\"><path d=\"M3 6h18\"/>"
              "<path d=\"M19 6v14a2 2 0 0 1-2 2H7a2 2 0 0 1-2-2V6\"/><path d=\"M8 6V4a2 2 0 0 1 2-2h4a2 2 0 0 1 2 2v2\"/>"
              "<path d=\"M10 11v6M14 11v6\"/></svg>\n"
              "map-pin: <svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 24 24\" fill=\"none\" stroke=\"currentColor\" "
              "stroke-width=\"2\" stroke-linecap=\"round\" stroke-linejoin=\"round\"><path d=\"M20 10c0 6-8 12-8 12s-8-6-8-12a8 8 0 0 1 16 0Z\"/>"
              "<circle cx=\"12\" cy=\"10\" r=\"3\"/></svg>\n"
              "bell-off: <svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 24 24\" fill=\"none\" stroke=\"currentColor\" "
              "stroke-width=\"2\" stroke-linecap=\"round\" stroke-linejoin=\"round\"><path d=\"M13.7 21a2 2 0 0 1-3.4 0\"/>"
              "<path d=\"M18.6 13A17.9 17.9 0 0 1 18 8\"/><path d=\"M6.3 6.3A6 6 0 0 0 6 8c0 7-3 9-3 9h14\"/>"
              "<path d=\"M18 8a6 6 0 0 0-9.3-5\"/><path d=\"m2 2 20 20\"/></svg>")


def _pelican(r, w, h):
    sky, body, beak, frame = pick(r, ["#cfe8ff", "#fde2c4", "#e6f4ea"]), pick(r, ["#ffffff", "#f3f1ea"]), pick(r, ["#f5a623", "#f08a24"]), pick(r, ["#d0021b", "#2b6cb0", "#2f855a"])
    wx = r.randrange(70, 80)
    return [f'<rect width="{w}" height="{h}" fill="{sky}"/>', f'<line x1="0" y1="{h - 30}" x2="{w}" y2="{h - 30}" stroke="#8a8a8a" stroke-width="2"/>',
            f'<circle cx="{wx}" cy="{h - 60}" r="30" fill="none" stroke="#333" stroke-width="5"/>',
            f'<circle cx="{wx + 130}" cy="{h - 60}" r="30" fill="none" stroke="#333" stroke-width="5"/>',
            f'<path d="M{wx} {h - 60} L{wx + 55} {h - 110} L{wx + 130} {h - 60} M{wx + 55} {h - 110} L{wx + 100} {h - 110} L{wx + 130} {h - 60} M{wx + 50} {h - 122} L{wx + 62} {h - 122}" fill="none" stroke="{frame}" stroke-width="6" stroke-linecap="round"/>',
            f'<ellipse cx="{wx + 70}" cy="{h - 140}" rx="45" ry="28" fill="{body}" stroke="#555" stroke-width="2"/>',
            f'<path d="M{wx + 100} {h - 155} Q{wx + 112} {h - 200} {wx + 100} {h - 215}" fill="none" stroke="{body}" stroke-width="14" stroke-linecap="round"/>',
            f'<circle cx="{wx + 102}" cy="{h - 222}" r="13" fill="{body}" stroke="#555" stroke-width="2"/>',
            f'<circle cx="{wx + 106}" cy="{h - 225}" r="2.5" fill="#111"/>',
            f'<path d="M{wx + 112} {h - 222} L{wx + 175} {h - 205} L{wx + 112} {h - 212} Z" fill="{beak}"/>',
            f'<path d="M{wx + 112} {h - 212} Q{wx + 140} {h - 190} {wx + 170} {h - 205}" fill="{beak}" opacity="0.75"/>',
            f'<path d="M{wx + 55} {h - 118} L{wx + 40} {h - 80} M{wx + 85} {h - 118} L{wx + 100} {h - 100}" stroke="{beak}" stroke-width="4" stroke-linecap="round"/>']


def _lighthouse(r, w, h):
    stripe = pick(r, ["#c53030", "#2b6cb0"])
    return [f'<rect width="{w}" height="{h}" fill="{pick(r, ["#1a202c", "#2a4365"])}"/>',
            f'<circle cx="{w - 50}" cy="50" r="18" fill="#f7fafc" opacity="0.9"/>',
            f'<path d="M0 {h - 40} Q{w / 4} {h - 55} {w / 2} {h - 40} T{w} {h - 40} V{h} H0 Z" fill="#2c5282"/>',
            f'<path d="M{w / 2 - 28} {h - 45} L{w / 2 - 16} {h - 200} H{w / 2 + 16} L{w / 2 + 28} {h - 45} Z" fill="#f7fafc"/>',
            f'<path d="M{w / 2 - 24} {h - 90} H{w / 2 + 24} L{w / 2 + 22} {h - 115} H{w / 2 - 22} Z M{w / 2 - 20} {h - 140} H{w / 2 + 20} L{w / 2 + 18} {h - 165} H{w / 2 - 18} Z" fill="{stripe}"/>',
            f'<rect x="{w / 2 - 18}" y="{h - 225}" width="36" height="25" fill="#f6e05e"/>',
            f'<path d="M{w / 2 - 22} {h - 225} L{w / 2} {h - 245} L{w / 2 + 22} {h - 225} Z" fill="{stripe}"/>',
            f'<path d="M{w / 2 + 18} {h - 215} L{w} {h - 260} V{h - 170} Z" fill="#f6e05e" opacity="0.35"/>']


def _house_thermostat(r, w, h):
    roof = pick(r, ["#9b2c2c", "#4a5568", "#744210"])
    glow = pick(r, ["#f6ad55", "#63b3ed"])
    return [f'<rect width="{w}" height="{h}" fill="#edf2f7"/>', f'<rect x="{w / 2 - 90}" y="{h / 2 - 20}" width="180" height="130" fill="#fffaf0" stroke="#2d3748" stroke-width="3"/>',
            f'<path d="M{w / 2 - 110} {h / 2 - 15} L{w / 2} {h / 2 - 100} L{w / 2 + 110} {h / 2 - 15} Z" fill="{roof}"/>',
            f'<rect x="{w / 2 - 20}" y="{h / 2 + 50}" width="40" height="60" fill="#744210"/>',
            f'<circle cx="{w / 2 + 50}" cy="{h / 2 + 25}" r="22" fill="{glow}" opacity="0.35"/>',
            f'<circle cx="{w / 2 + 50}" cy="{h / 2 + 25}" r="14" fill="#1a202c"/>',
            f'<path d="M{w / 2 + 41} {h / 2 + 25} A9 9 0 0 1 {w / 2 + 59} {h / 2 + 25}" fill="none" stroke="{glow}" stroke-width="3"/>']


ILLUSTRATIONS = {
    "a pelican riding a bicycle": _pelican,
    "a lighthouse at night with its beam on": _lighthouse,
    "a house with a glowing smart thermostat on the wall": _house_thermostat,
}


def svg_call(rng, when) -> Call:
    if rng.random() < 0.1:
        subject, builder = pick(rng, list(ILLUSTRATIONS.items()))
        w, h = pick(rng, [(320, 320), (400, 300), (360, 360)])
        prompt = pick(rng, [f"Generate an SVG of {subject}. {w}x{h}, flat colours, no gradients.",
                            f"For the empty-state screen we need a small illustration: {subject}. viewBox 0 0 {w} {h}, filled shapes are fine here."])
        body = "\n  ".join(builder(rng, w, h))
        svg = f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}">\n  {body}\n</svg>'
        return Call("svg_icons", when, SVG_SYSTEM, [{"role": "user", "content": prompt}], svg,
                    {"temperature": 0.4, "max_tokens": 2000}, user="design-tools")
    concept, (builder, contexts) = pick(rng, list(ICONS.items()))
    context = pick(rng, contexts)
    sw = pick(rng, ["2", "2", "1.5", "1.75"])
    size = pick(rng, [None, None, None, 16, 20, 32])
    prompt = pick(rng, [
        f"Icon: {concept}. Used for: {context}. Stroke width {sw}.",
        f"We need a '{concept}' icon for the {context}. stroke-width {sw}" + (f", render at {size}px" if size else "") + ".",
        f"Please draw a {concept} icon ({context}), Lumen style, {sw}px stroke.",
        f"New icon request from the {pick(rng, ['Mobile', 'Web', 'Growth'])} team: {concept} — context: {context}." + (f" Export at {size}x{size}." if size else ""),
    ])
    dims = f' width="{size}" height="{size}"' if size and str(size) in prompt else ""
    body = "\n  ".join(builder(rng))
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"{dims} fill="none" stroke="currentColor" '
           f'stroke-width="{sw}" stroke-linecap="round" stroke-linejoin="round">\n  {body}\n</svg>')
    return Call("svg_icons", when, SVG_SYSTEM, [{"role": "user", "content": prompt}], svg,
                {"temperature": 0.2, "max_tokens": 1000}, user="design-tools")


# --------------------------------------------------------------------------------------------------
# Workload: simple Python functions from a clear spec
# --------------------------------------------------------------------------------------------------

CODE_SYSTEM = ("You are a senior Python engineer at Halcyon. Write one self-contained Python 3.11 function that "
               "meets the spec exactly. Use type hints and a short docstring, standard library only. Reply with the "
               "code in a single ```python block, followed by at most two sentences on edge cases.\n\n"
               "## Halcyon Python standards (platform guild, rev. 14)\n"
               "Language level: Python 3.11. Use built-in generics (list[str], dict[str, int]) and X | None, never "
               "typing.List or Optional. Use from __future__ import annotations only when a forward reference needs it.\n"
               "Naming: snake_case for functions and variables, UPPER_CASE for module constants, verbs for functions "
               "that act (parse_duration) and nouns for functions that compute a value (business_days). No single-letter "
               "names except i, j, k for indices and x, y for coordinates.\n"
               "Docstrings: one line that says what the function returns or does, then, only when needed, a short "
               "paragraph on arguments that are not obvious and on the exceptions raised. No reStructuredText fields.\n"
               "Errors: validate arguments at the start and raise ValueError (bad value) or TypeError (bad type) with a "
               "message that names the argument and the value received. Never catch Exception except to re-raise with "
               "context. Never return None to signal an error.\n"
               "Purity: functions do not print, log, read environment variables or touch the network unless the spec "
               "asks for it. Do not mutate arguments; return new objects.\n"
               "Performance: prefer the standard library (itertools, collections, heapq, bisect, functools) over hand-"
               "written loops when it is clearer. Say in the note when the complexity is worse than linear.\n"
               "Dates and times: use datetime with timezone.utc for timestamps; never naive datetimes for instants. "
               "Durations are seconds as int unless the spec says otherwise.\n"
               "Text: treat input as Unicode; normalise with unicodedata when comparing or slugifying. Do not assume ASCII.\n"
               "Files: open text files with an explicit encoding='utf-8' and newline='' for CSV. Use pathlib for paths.\n"
               "Style: black formatting (line length 110), imports at the top of the snippet, grouped stdlib only. No "
               "wildcard imports, no global state, no classes when a function will do.\n"
               "Tests: do not include tests in the answer; the IDE plugin generates them separately from the docstring.\n"
               "Security: never use eval, exec, pickle or shell=True; never build SQL or shell commands from strings.\n"
               "Output format: exactly one ```python block with the function and the imports it needs, then at most two "
               "sentences on edge cases. No headings, no bullet lists, no alternative versions.")

# (spec template, code template, note, parameter choices)
CODE_TASKS = [
    ("Write `{name}(text: str, max_length: int = {n}) -> str` that turns a title into a URL slug: lowercase ASCII, "
     "accents removed, runs of non-alphanumerics become a single '{sep}', no leading/trailing '{sep}', and cut at "
     "max_length without leaving a trailing '{sep}'.",
     '''import re
import unicodedata


def {name}(text: str, max_length: int = {n}) -> str:
    """Return a URL slug for *text*."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "{sep}", ascii_text.lower()).strip("{sep}")
    return slug[:max_length].rstrip("{sep}")''',
     "Empty or all-symbol input returns an empty string.",
     {"name": ["slugify", "make_slug", "to_slug"], "n": [60, 80, 100], "sep": ["-", "-", "_"]}),
    ("Write `{name}(items: list, size: int) -> list[list]` that splits a list into consecutive chunks of `size` "
     "(the last chunk may be shorter). Raise ValueError if size < 1.",
     '''def {name}(items: list, size: int) -> list[list]:
    """Split *items* into consecutive chunks of length *size*."""
    if size < 1:
        raise ValueError("size must be at least 1")
    return [items[i:i + size] for i in range(0, len(items), size)]''',
     "An empty list gives an empty list of chunks.",
     {"name": ["chunked", "chunk_list", "batched"]}),
    ("Write `{name}(value: str) -> int` that parses durations like '1h30m', '45s', '2h', '1h5m10s' into seconds. "
     "Units are h, m, s in that order, each optional but at least one present; anything else raises ValueError.",
     '''import re

_DURATION = re.compile(r"(?:(\\d+)h)?(?:(\\d+)m)?(?:(\\d+)s)?")


def {name}(value: str) -> int:
    """Parse a duration such as '1h30m' into seconds."""
    match = _DURATION.fullmatch(value.strip())
    if not value.strip() or not match or not any(match.groups()):
        raise ValueError(f"not a duration: {{value!r}}")
    hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds''',
     "Whitespace around the value is ignored; '90m' is accepted and gives 5400.",
     {"name": ["parse_duration", "duration_to_seconds"]}),
    ("Write `{name}(intervals: list[tuple[int, int]]) -> list[tuple[int, int]]` that merges overlapping or touching "
     "closed intervals and returns them sorted by start.",
     '''def {name}(intervals: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Merge overlapping or touching intervals, sorted by start."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged''',
     "Intervals like (1, 3) and (3, 5) touch and are merged into (1, 5).",
     {"name": ["merge_intervals", "merge_ranges"]}),
    ("Write `{name}(data: dict, sep: str = '{sep}') -> dict` that flattens nested dictionaries into a single level, "
     "joining keys with `sep` (e.g. {{'a': {{'b': 1}}}} -> {{'a{sep}b': 1}}). Lists are left as values.",
     '''def {name}(data: dict, sep: str = "{sep}") -> dict:
    """Flatten nested dicts, joining keys with *sep*."""
    flat: dict = {{}}

    def walk(node: dict, prefix: str) -> None:
        for key, value in node.items():
            path = f"{{prefix}}{{sep}}{{key}}" if prefix else str(key)
            if isinstance(value, dict) and value:
                walk(value, path)
            else:
                flat[path] = value

    walk(data, "")
    return flat''',
     "An empty nested dict is kept as a value rather than disappearing.",
     {"name": ["flatten_dict", "flatten"], "sep": [".", ".", "__", "/"]}),
    ("Write `{name}(n: int) -> str` converting an integer 1..3999 to Roman numerals; raise ValueError outside that range.",
     '''def {name}(n: int) -> str:
    """Convert 1..3999 to a Roman numeral."""
    if not 1 <= n <= 3999:
        raise ValueError("n must be between 1 and 3999")
    table = [(1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"),
             (50, "L"), (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")]
    out = []
    for value, symbol in table:
        count, n = divmod(n, value)
        out.append(symbol * count)
    return "".join(out)''',
     "bool is an int subclass, so True gives 'I'; reject it explicitly if that matters.",
     {"name": ["to_roman", "int_to_roman"]}),
    ("Write a decorator `{name}(attempts: int = {n}, base_delay: float = {d}, exceptions=(Exception,))` that retries "
     "the wrapped function with exponential backoff (base_delay * 2**i seconds between tries) and re-raises the last "
     "exception when attempts run out.",
     '''import functools
import time


def {name}(attempts: int = {n}, base_delay: float = {d}, exceptions=(Exception,)):
    """Retry the decorated function with exponential backoff."""
    def decorator(func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            for i in range(attempts):
                try:
                    return func(*args, **kwargs)
                except exceptions:
                    if i == attempts - 1:
                        raise
                    time.sleep(base_delay * 2 ** i)
        return wrapper
    return decorator''',
     "Only the listed exception types are retried; anything else propagates immediately.",
     {"name": ["retry", "with_backoff"], "n": [3, 4, 5], "d": [0.5, 1.0, 0.25]}),
    ("Write `{name}(values: list[float], window: int) -> list[float]` returning the simple moving average for each "
     "full window (so the result has len(values) - window + 1 items). Raise ValueError for window < 1.",
     '''def {name}(values: list[float], window: int) -> list[float]:
    """Simple moving average over each full window."""
    if window < 1:
        raise ValueError("window must be at least 1")
    out: list[float] = []
    total = 0.0
    for i, v in enumerate(values):
        total += v
        if i >= window:
            total -= values[i - window]
        if i >= window - 1:
            out.append(total / window)
    return out''',
     "If the window is longer than the list the result is empty.",
     {"name": ["moving_average", "rolling_mean", "sma"]}),
    ("Write `{name}(text: str, k: int = {n}) -> list[tuple[str, int]]` returning the k most common words "
     "(case-insensitive, letters and apostrophes only), ties broken alphabetically.",
     '''import re
from collections import Counter


def {name}(text: str, k: int = {n}) -> list[tuple[str, int]]:
    """The k most common words, ties broken alphabetically."""
    counts = Counter(re.findall(r"[a-z']+", text.lower()))
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:k]''',
     "Contractions such as \"don't\" count as one word.",
     {"name": ["top_words", "most_common_words"], "n": [5, 10, 20]}),
    ("Write `{name}(a: str, b: str) -> int` comparing two semantic versions 'MAJOR.MINOR.PATCH' (optional "
     "'-prerelease'), returning -1, 0 or 1. A prerelease sorts before the release with the same numbers.",
     '''def {name}(a: str, b: str) -> int:
    """Compare two semantic versions; -1, 0 or 1."""
    def key(version: str):
        core, _, pre = version.partition("-")
        major, minor, patch = (int(x) for x in core.split("."))
        return (major, minor, patch, pre == "", pre)

    ka, kb = key(a), key(b)
    return (ka > kb) - (ka < kb)''',
     "Prerelease identifiers are compared as plain strings, a simplification of the full SemVer rules.",
     {"name": ["compare_versions", "semver_cmp"]}),
    ("Write `{name}(name: str) -> str` converting camelCase or PascalCase (including runs like 'HTTPServer') to snake_case.",
     '''import re


def {name}(name: str) -> str:
    """camelCase / PascalCase to snake_case."""
    step = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\\1_\\2", name)
    step = re.sub(r"([a-z0-9])([A-Z])", r"\\1_\\2", step)
    return step.lower()''',
     "'HTTPServerError' becomes 'http_server_error'.",
     {"name": ["camel_to_snake", "to_snake_case"]}),
    ("Write `{name}(items) -> list` that removes duplicates from an iterable while keeping the first occurrence order. "
     "Items are hashable.",
     '''def {name}(items) -> list:
    """Remove duplicates, keeping first-seen order."""
    seen = set()
    out = []
    for item in items:
        if item not in seen:
            seen.add(item)
            out.append(item)
    return out''',
     "For unhashable items you would need a key function.",
     {"name": ["dedupe", "unique_in_order", "ordered_unique"]}),
    ("Write `{name}(lat1: float, lon1: float, lat2: float, lon2: float) -> float` returning the great-circle distance "
     "in {unit} using the haversine formula (Earth radius {radius}).",
     '''import math


def {name}(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in {unit} (haversine)."""
    radius = {radius}
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = math.radians(lat2 - lat1)
    dlmb = math.radians(lon2 - lon1)
    h = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    return 2 * radius * math.asin(math.sqrt(h))''',
     "Inputs are degrees; the spherical model is off by up to about 0.5% from the ellipsoid.",
     {"name": ["haversine", "distance_between"], "unit": ["kilometres", "miles"], "radius": ["6371.0", "3958.8"]}),
    ("Write `{name}(start: date, end: date, holidays: set[date] = frozenset()) -> int` counting weekdays "
     "(Mon-Fri) in the half-open range [start, end) that are not holidays.",
     '''from datetime import date, timedelta


def {name}(start: date, end: date, holidays: set[date] = frozenset()) -> int:
    """Weekdays in [start, end) that are not holidays."""
    days = 0
    current = start
    while current < end:
        if current.weekday() < 5 and current not in holidays:
            days += 1
        current += timedelta(days=1)
    return days''',
     "If end is before start the result is 0.",
     {"name": ["business_days_between", "count_workdays"]}),
    ("Write `{name}(num_bytes: int, precision: int = {n}) -> str` formatting a byte count using binary units "
     "(B, KiB, MiB, GiB, TiB), e.g. 1536 -> '1.5 KiB'. Bytes are shown without decimals.",
     '''def {name}(num_bytes: int, precision: int = {n}) -> str:
    """Human-readable size with binary units."""
    units = ["B", "KiB", "MiB", "GiB", "TiB"]
    size = float(num_bytes)
    for unit in units:
        if abs(size) < 1024 or unit == units[-1]:
            if unit == "B":
                return f"{{int(size)}} B"
            return f"{{size:.{{precision}}f}}".rstrip("0").rstrip(".") + f" {{unit}}"
        size /= 1024
    raise AssertionError("unreachable")''',
     "Negative sizes keep their sign.",
     {"name": ["human_bytes", "format_size"], "n": [1, 2]}),
    ("Write `{name}(text: str, width: int = {n}, placeholder: str = '…') -> str` that shortens text to at most "
     "`width` characters on a word boundary, appending the placeholder when anything was cut.",
     '''def {name}(text: str, width: int = {n}, placeholder: str = "…") -> str:
    """Shorten *text* to *width* characters on a word boundary."""
    text = " ".join(text.split())
    if len(text) <= width:
        return text
    room = width - len(placeholder)
    cut = text[:room + 1].rsplit(" ", 1)[0] if " " in text[:room + 1] else text[:room]
    return cut[:room].rstrip() + placeholder''',
     "A single long word is hard-cut because there is no boundary to use.",
     {"name": ["truncate", "shorten"], "n": [40, 80, 120]}),
    ("Write `{name}(s: str) -> bool` that checks whether (), [] and {{}} are balanced and properly nested; other "
     "characters are ignored.",
     '''def {name}(s: str) -> bool:
    """True when brackets are balanced and properly nested."""
    pairs = {{")": "(", "]": "[", "}}": "{{"}}
    stack = []
    for ch in s:
        if ch in "([{{":
            stack.append(ch)
        elif ch in pairs:
            if not stack or stack.pop() != pairs[ch]:
                return False
    return not stack''',
     "The empty string counts as balanced.",
     {"name": ["is_balanced", "brackets_balanced"]}),
    ("Write `{name}(graph: dict[str, list[str]]) -> list[str]` returning a topological order of the nodes "
     "(edges point from a node to its dependents). Raise ValueError if there is a cycle.",
     '''from collections import deque


def {name}(graph: dict[str, list[str]]) -> list[str]:
    """Kahn's algorithm; raises ValueError on a cycle."""
    indegree = {{node: 0 for node in graph}}
    for targets in graph.values():
        for t in targets:
            indegree[t] = indegree.get(t, 0) + 1
    queue = deque(sorted(n for n, d in indegree.items() if d == 0))
    order = []
    while queue:
        node = queue.popleft()
        order.append(node)
        for t in graph.get(node, []):
            indegree[t] -= 1
            if indegree[t] == 0:
                queue.append(t)
    if len(order) != len(indegree):
        raise ValueError("graph has a cycle")
    return order''',
     "Nodes that only appear as targets are included too.",
     {"name": ["topo_sort", "topological_order"]}),
    ("Write `{name}(base: dict, override: dict) -> dict` that deep-merges two dicts without mutating either: nested "
     "dicts merge recursively, any other value in `override` wins.",
     '''import copy


def {name}(base: dict, override: dict) -> dict:
    """Recursively merge *override* into a copy of *base*."""
    result = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = {name}(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result''',
     "Lists are replaced, not concatenated.",
     {"name": ["deep_merge", "merge_config"]}),
    ("Write `{name}(values: list[float], pct: float) -> float` returning the pct-th percentile (0-100) with linear "
     "interpolation between closest ranks. Raise ValueError on an empty list.",
     '''import math


def {name}(values: list[float], pct: float) -> float:
    """Percentile with linear interpolation between closest ranks."""
    if not values:
        raise ValueError("values is empty")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * pct / 100
    low, high = math.floor(rank), math.ceil(rank)
    if low == high:
        return ordered[low]
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)''',
     "This matches numpy's default 'linear' method.",
     {"name": ["percentile", "pctl"]}),
    ("Write `{name}(s: str) -> str` for run-length encoding: 'aaabcc' -> '3a1b2c'. Input contains letters only.",
     '''def {name}(s: str) -> str:
    """Run-length encode a string of letters."""
    if not s:
        return ""
    out = []
    run_char, run_len = s[0], 1
    for ch in s[1:]:
        if ch == run_char:
            run_len += 1
        else:
            out.append(f"{{run_len}}{{run_char}}")
            run_char, run_len = ch, 1
    out.append(f"{{run_len}}{{run_char}}")
    return "".join(out)''',
     "Decoding is unambiguous because the input has no digits.",
     {"name": ["rle_encode", "run_length_encode"]}),
    ("Write `{name}(path: str) -> list[dict]` reading a CSV file with a header row and returning rows as dicts, "
     "converting values that look like integers or floats to numbers and empty strings to None.",
     '''import csv


def {name}(path: str) -> list[dict]:
    """Read a CSV into dicts, converting numbers and blanks."""
    def convert(value: str):
        if value == "":
            return None
        for cast in (int, float):
            try:
                return cast(value)
            except ValueError:
                pass
        return value

    with open(path, newline="", encoding="utf-8") as fh:
        return [{{k: convert(v) for k, v in row.items()}} for row in csv.DictReader(fh)]''',
     "Values like '007' become 7; keep them as text if leading zeros matter.",
     {"name": ["read_csv_rows", "load_csv"]}),
]


def code_call(rng, when) -> Call:
    spec, code, note, choices = pick(rng, CODE_TASKS)
    params = {k: pick(rng, v) for k, v in choices.items()}
    prompt = spec.format(**params)
    if rng.random() < 0.3:
        prompt += pick(rng, [" It's for the {team} service.", " Keep it simple, this goes in a shared utils module.",
                             " Please include type hints.", " No third-party packages."]).format(team=pick(rng, TEAMS).lower())
    if rng.random() < 0.55:  # the IDE plugin sends the module the function will live in
        others = rng.sample([t for t in CODE_TASKS if t[1] != code], k=rng.randrange(2, 5))
        context = "\n\n".join(other.format(**{k: v[0] for k, v in opts.items()}) for _, other, _, opts in others)
        module = pick(rng, ["common/text.py", "common/timeutils.py", "common/collections.py", "jobs/helpers.py", "api/utils.py"])
        prompt += f"\n\nIt goes in `halcyon/{module}`, which currently contains:\n```python\n{context}\n```"
    answer = f"```python\n{code.format(**params)}\n```\n\n{note}"
    return Call("python_functions", when, CODE_SYSTEM, [{"role": "user", "content": prompt}], answer,
                {"temperature": 0.2, "max_tokens": 1200}, user=f"ide-{pick(rng, FIRST).lower()}")


# --------------------------------------------------------------------------------------------------
# Workload: JSON extraction of vendor invoices (accounts payable, run as a nightly OpenAI Batch)
# --------------------------------------------------------------------------------------------------

INVOICE_SCHEMA = {
    "vendor_name": "string", "vendor_vat_id": "string|null", "invoice_number": "string",
    "invoice_date": "YYYY-MM-DD", "due_date": "YYYY-MM-DD|null", "currency": "ISO 4217 code",
    "po_number": "string|null",
    "line_items": [{"description": "string", "quantity": "number", "unit_price": "number", "amount": "number"}],
    "subtotal": "number", "tax_rate": "number|null (percent)", "tax_amount": "number", "shipping": "number",
    "total": "number", "payment_terms": "string|null", "iban": "string|null (no spaces)",
}
INVOICE_SYSTEM = ("You extract data from vendor invoices for Halcyon's accounts-payable system. The input is OCR "
                  "text and may contain noise. Return one JSON object with exactly these keys and types, null when a "
                  "field is absent, numbers without currency symbols or thousands separators:\n"
                  + json.dumps(INVOICE_SCHEMA, indent=1)
                  + "\n\nRules agreed with accounts payable:\n"
                  "- Dates: invoices from Germany and the Netherlands write day.month.year, from the UK and France "
                  "day/month/year, from the US month/day/year. Convert all of them to YYYY-MM-DD.\n"
                  "- vendor_name is the legal name as printed in the header, in its original capitalisation if the "
                  "header is not all capitals; if it is, use the name as it appears in the bank or footer block.\n"
                  "- OCR confuses l/I/1 and O/0 in words; fix obvious OCR errors in labels but never in numbers, IBANs "
                  "or invoice numbers.\n"
                  "- line_items: one object per printed line, in order. amount is the printed line total. Do not add "
                  "lines for VAT, shipping or discounts; those go in tax_amount and shipping.\n"
                  "- tax_rate is the VAT or sales-tax percentage as a number (19 for 19%); null when no tax is shown. "
                  "tax_amount is 0 when no tax is shown.\n"
                  "- shipping is 0 when no shipping or handling line is shown.\n"
                  "- total is the amount due as printed. Do not recompute it; if subtotal + tax_amount + shipping does "
                  "not equal the printed total, still return the printed values (a downstream check flags it).\n"
                  "- iban: remove spaces; keep the country prefix. US remittance details (ACH) are not IBANs: null.\n"
                  "- payment_terms exactly as printed (\"Net 30\", \"2/10 Net 30\", \"Due on receipt\").\n"
                  "- Ignore the terms and conditions, bank charges notes and marketing text at the bottom.\n"
                  "- Output the JSON object only: no code fences, no comments, no trailing text.\n\n"
                  "Example output for a one-line invoice:\n"
                  '{"vendor_name": "Example Supplies Ltd", "vendor_vat_id": "GB123456789", "invoice_number": "INV-2026-00017", '
                  '"invoice_date": "2026-03-02", "due_date": "2026-04-01", "currency": "GBP", "po_number": null, '
                  '"line_items": [{"description": "Label printer ribbons", "quantity": 10, "unit_price": 4.5, "amount": 45.0}], '
                  '"subtotal": 45.0, "tax_rate": 20.0, "tax_amount": 9.0, "shipping": 0.0, "total": 54.0, '
                  '"payment_terms": "Net 30", "iban": "GB29NWBK60161331926819"}')
VENDORS = [
    ("Shenzhen Brightway Electronics Co., Ltd.", None, "USD", "CN", ["PCB assembly, thermostat mainboard rev C", "Image sensor module IMX-415", "Li-ion cell 18650 3400mAh", "Injection-moulded enclosure, doorbell", "Flex cable 24-pin 80mm"]),
    ("Pacific Freight Partners LLC", None, "USD", "US", ["Ocean freight 40' HC Yantian-Long Beach", "Customs brokerage", "Drayage Long Beach to Reno DC", "Chassis fee", "ISF filing"]),
    ("Nordlicht Komponenten GmbH", "DE", "EUR", "DE", ["Relay module 16A", "Temperature sensor NTC 10k", "EMC filter, custom", "Test fixture rental", "Engineering support (hours)"]),
    ("Harbourline Packaging Ltd", "GB", "GBP", "GB", ["Retail box, Cam Indoor, 4-colour", "Molded pulp insert", "Quick-start guide, 12pp", "Shipping carton 6-up", "Tooling charge"]),
    ("Cloudspire Hosting Inc.", None, "USD", "US", ["Dedicated video transcoding nodes", "Object storage (TB-month)", "Egress (TB)", "Premium support plan", "Reserved GPU instance"]),
    ("Van der Berg Logistics B.V.", "NL", "EUR", "NL", ["Warehousing (pallet-weeks)", "Pick & pack (orders)", "Returns processing", "Outbound parcels EU", "Labelling"]),
    ("Atelier Dumont SARL", "FR", "EUR", "FR", ["Brand photography, day rate", "Retouching (images)", "Studio rental", "Props and styling", "Travel"]),
    ("Keystone Office Supply", None, "USD", "US", ["Ergonomic chair", "Standing desk frame", "Monitor arm, dual", "Printer paper (case)", "Whiteboard 6x4"]),
]
PAY_TERMS = ["Net 30", "Net 45", "Net 60", "Due on receipt", "2/10 Net 30", None]


def iban_for(rng: random.Random, country: str) -> str:
    lengths = {"DE": 18, "GB": 18, "NL": 14, "FR": 23}
    if country == "GB":
        bban = pick(rng, ["NWBK", "BARC", "HBUK", "LOYD"]) + "".join(str(rng.randrange(10)) for _ in range(14))
    elif country == "NL":
        bban = pick(rng, ["ABNA", "INGB", "RABO"]) + "".join(str(rng.randrange(10)) for _ in range(10))
    else:
        bban = "".join(str(rng.randrange(10)) for _ in range(lengths.get(country, 18)))
    digits = "".join(str(int(c, 36)) for c in bban + country + "00")
    check = 98 - int(digits) % 97
    return f"{country}{check:02d}{bban}"


def _vat_id(rng, country):
    return {"DE": f"DE{rng.randrange(100000000, 999999999)}", "GB": f"GB{rng.randrange(100000000, 999999999)}",
            "NL": f"NL{rng.randrange(100000000, 999999999)}B01", "FR": f"FR{rng.randrange(10, 99)}{rng.randrange(100000000, 999999999)}"}.get(country)


def make_invoice(rng: random.Random, when: datetime) -> tuple[str, dict]:
    name, vat_country, currency, country, items = pick(rng, VENDORS)
    issued = when - timedelta(days=rng.randrange(1, 25))
    terms = pick(rng, PAY_TERMS)
    due = issued + timedelta(days={"Net 30": 30, "Net 45": 45, "Net 60": 60, "2/10 Net 30": 30}.get(terms, 0)) if terms else None
    lines = []
    bulk = name.startswith(("Shenzhen", "Nordlicht", "Harbourline"))  # component vendors ship thousands of units
    for desc in rng.sample(items, k=rng.randrange(1, 5)):
        if "hours" in desc or "day rate" in desc:
            qty = rng.randrange(2, 40)
        elif bulk and not any(w in desc for w in ("Tooling", "Test fixture")):
            qty = pick(rng, [250, 500, 1000, 2500, 5000])
        else:
            qty = pick(rng, [1, 1, 1, 2, 3, 4, 6, 10, 12])
        unit = round(rng.uniform(0.35, 18) if qty >= 250 else rng.uniform(40, 2400), 2)
        lines.append({"description": desc, "quantity": qty, "unit_price": unit, "amount": round(qty * unit, 2)})
    subtotal = round(sum(li["amount"] for li in lines), 2)
    tax_rate = {"DE": 19.0, "GB": 20.0, "NL": 21.0, "FR": 20.0}.get(vat_country) if vat_country else None
    tax = round(subtotal * tax_rate / 100, 2) if tax_rate else 0.0
    shipping = pick(rng, [0.0, 0.0, 45.0, 120.0, 380.0])
    total = round(subtotal + tax + shipping, 2)
    number = pick(rng, ["INV-{y}-{n:05d}", "{n:07d}", "SI{n:06d}", "F{y}{n:05d}"]).format(y=issued.year, n=rng.randrange(1, 99999))
    po = f"PO-{rng.randrange(4500, 4999)}{rng.randrange(100, 999)}" if rng.random() < 0.7 else None
    vat = _vat_id(rng, vat_country) if vat_country else None
    iban = iban_for(rng, country) if country in ("DE", "GB", "NL", "FR") else None
    sym = {"USD": "$", "EUR": "€", "GBP": "£"}[currency]
    date_fmt = "%d.%m.%Y" if country in ("DE", "NL") else ("%d/%m/%Y" if country in ("GB", "FR") else "%m/%d/%Y")
    out = [name.upper() if rng.random() < 0.3 else name,
           f"{rng.randrange(1, 400)} {pick(rng, ['Industrial Park Rd', 'Hafenstraße', 'Quay Street', 'Rue de la République', 'Harbor Blvd', 'Keizersgracht'])}",
           f"VAT ID: {vat}" if vat else "", "", "INVOICE" if rng.random() < 0.7 else "TAX INVOICE",
           f"Invoice No: {number}", f"Invoice Date: {issued.strftime(date_fmt)}",
           f"Due Date: {due.strftime(date_fmt)}" if due else "", f"Customer PO: {po}" if po else "",
           "Bill To: Halcyon Labs Inc., Accounts Payable, 200 Hudson St, New York, NY 10013", "",
           "Description                              Qty     Unit Price      Amount"]
    for li in lines:
        out.append(f"{li['description'][:38]:<40} {li['quantity']:>5}   {sym}{money(li['unit_price']):>11}   {sym}{money(li['amount']):>11}")
    out += ["", f"Subtotal {sym}{money(subtotal)}"]
    if tax_rate:
        out.append(f"VAT {tax_rate:g}%  {sym}{money(tax)}")
    if shipping:
        out.append(f"Shipping & handling {sym}{money(shipping)}")
    out.append(f"TOTAL DUE {currency} {sym}{money(total)}")
    if terms:
        out.append(f"Payment terms: {terms}")
    if iban:
        spaced = " ".join(iban[i:i + 4] for i in range(0, len(iban), 4))
        out.append(f"Bank: IBAN {spaced}  BIC {pick(rng, ['DEUTDEFF', 'NWBKGB2L', 'ABNANL2A', 'BNPAFRPP'])}")
    elif country == "US":
        out.append(f"Remit to: ACH routing 0{rng.randrange(21000000, 29999999)} acct ****{rng.randrange(1000, 9999)}")
    out += ["", pick(rng, [
        "Terms and conditions: Goods remain the property of the seller until paid in full. Claims for shortages or damage "
        "must be made in writing within 7 days of delivery. Late payments accrue interest at 1.5% per month. Any dispute "
        "must be raised before the due date, quoting the invoice number.",
        "Please quote the invoice number with your payment. Bank charges are for the payer's account. We reserve the right "
        "to charge statutory interest and compensation for late payment. Our general terms of delivery apply; a copy is "
        "available on request.",
        "Thank you for your business. Payment by bank transfer only; we do not accept cheques. Questions about this invoice: "
        "accounts receivable, quoting the customer number and invoice number. Retention of title applies to all goods.",
    ]), f"Page 1 of 1   ·   Customer no. {rng.randrange(10000, 99999)}   ·   Printed {issued.strftime(date_fmt)}"]
    text = "\n".join(x for x in out if x is not None)
    if rng.random() < 0.25:  # OCR noise
        text = text.replace("Invoice", "lnvoice", 1).replace("Total", "TotaI", 1)
    data = {"vendor_name": name, "vendor_vat_id": vat, "invoice_number": number, "invoice_date": issued.strftime("%Y-%m-%d"),
            "due_date": due.strftime("%Y-%m-%d") if due else None, "currency": currency, "po_number": po,
            "line_items": lines, "subtotal": subtotal, "tax_rate": tax_rate, "tax_amount": tax, "shipping": shipping,
            "total": total, "payment_terms": terms, "iban": iban}
    return text, data


def invoice_call(rng, when) -> Call:
    text, data = make_invoice(rng, when)
    answer = json.dumps(data, indent=2 if rng.random() < 0.5 else None, ensure_ascii=False)
    return Call("invoice_extraction", when, INVOICE_SYSTEM, [{"role": "user", "content": text}], answer,
                {"temperature": 0, "max_tokens": 1500, "response_format": {"type": "json_object"}}, user="ap-invoices")


# --------------------------------------------------------------------------------------------------
# Workload: order-confirmation emails forwarded to the expense tool -> JSON (Bedrock, Claude 3.5 Haiku)
# --------------------------------------------------------------------------------------------------

ORDER_SYSTEM = ("Extract the purchase from this order-confirmation email for Halcyon's expense tool. Respond with "
                "JSON only, using keys: merchant, order_id, order_date (YYYY-MM-DD), items (list of {name, quantity, "
                "unit_price}), subtotal, tax, shipping, total, currency, ship_to_city. Use null for anything the "
                "email does not state.")
MERCHANTS = [
    ("Parcelbay", ["USB-C to HDMI adapter", "Mechanical keyboard (TKL)", "27\" 4K monitor", "Laptop stand", "Wireless mouse", "Ethernet cable 10 ft (3-pack)"]),
    ("Northgate Electronics", ["Logic analyzer 16ch", "Bench power supply 30V 5A", "Soldering station", "Oscilloscope probe set", "ESD mat"]),
    ("Brightdesk Office Supply", ["Sticky notes (12 pads)", "Whiteboard markers", "Printer toner", "Notebook A5 dotted (5)", "Desk organizer"]),
    ("Summit Outfitters", ["Team offsite rain jackets", "Insulated mugs (set of 12)", "Trail first-aid kit"]),
    ("Kettle & Co.", ["Office coffee beans 5 lb", "Oat milk (case of 12)", "Compostable cups (1000)", "Tea sampler"]),
    ("Voltara", ["Zigbee test sensor kit", "Smart plug reference units (10)", "Thread border router dev board", "Matter dev kit"]),
]


def make_order_email(rng: random.Random, when: datetime) -> tuple[str, dict]:
    merchant, catalog = pick(rng, MERCHANTS)
    first, last = person(rng)
    ordered = when - timedelta(days=rng.randrange(0, 6))
    items = [{"name": n, "quantity": pick(rng, [1, 1, 1, 2, 3, 5]), "unit_price": round(rng.uniform(6, 480), 2)}
             for n in rng.sample(catalog, k=rng.randrange(1, min(4, len(catalog)) + 1))]
    subtotal = round(sum(i["quantity"] * i["unit_price"] for i in items), 2)
    city = pick(rng, CITIES[:8])
    tax = round(subtotal * pick(rng, [0.0625, 0.08, 0.08875, 0.0725]), 2)
    shipping = pick(rng, [0.0, 0.0, 5.99, 12.5, 24.0])
    total = round(subtotal + tax + shipping, 2)
    oid = pick(rng, ["{a}-{b}-{c}", "#{b}{c}", "ORD{b}{c}"]).format(a=rng.randrange(100, 999), b=rng.randrange(1000000, 9999999), c=rng.randrange(1000, 9999))
    lines = [f"From: {merchant} <orders@{merchant.lower().replace(' & ', '').replace(' ', '').replace('.', '')}.example>",
             f"To: {ascii_lower(first)}.{ascii_lower(last)}@halcyonlabs.example",
             f"Subject: Your {merchant} order {oid} is confirmed", "",
             f"Hi {first},", "", pick(rng, ["Thanks for your order! Here's your receipt.", "Good news - we've received your order.", "Your order is confirmed and will ship soon."]),
             "", f"Order {oid}  ·  Placed {ordered.strftime('%B %d, %Y')}", ""]
    for i in items:
        lines.append(f"{i['name']}  x{i['quantity']}   ${money(i['unit_price'] * i['quantity'])}")
    lines += ["", f"Subtotal: ${money(subtotal)}", f"Shipping: {'FREE' if not shipping else '$' + money(shipping)}",
              f"Estimated tax: ${money(tax)}", f"Order total: ${money(total)}", "",
              f"Shipping to: {first} {last}, {rng.randrange(10, 999)} {pick(rng, STREETS)}, {city[0]}, {city[1]} {city[3]}",
              f"Paid with Visa ending in {rng.randrange(1000, 9999)}", "",
              pick(rng, ["Questions? Reply to this email or call 1-800-555-0199.", "Track your package in the app.", "Need to make a change? Visit your orders page within 1 hour."])]
    # What a plain-text rendering of a real order email carries below the receipt.
    lines += ["", "You might also like:"]
    lines += [f"  {n}  from ${money(rng.uniform(9, 300))}  [View item]" for n in rng.sample(catalog, k=min(3, len(catalog)))]
    lines += ["", "Returns & refunds: most items can be returned within 30 days of delivery for a full refund. Items must be "
              "unused and in their original packaging. Start a return from your orders page; we'll email a prepaid label. "
              "Refunds go back to the original payment method within 5-10 business days after we receive the item.",
              "", "Delivery estimates are not guaranteed. Orders placed after 2 pm ET ship the next business day. Signature may "
              "be required for orders over $500.",
              "", f"This email was sent to {ascii_lower(first)}.{ascii_lower(last)}@halcyonlabs.example because you placed an order with {merchant}. "
              "Manage your email preferences or unsubscribe from marketing emails at any time; you'll still receive "
              "transactional emails about your orders. Prices and availability are subject to change.",
              f"© 2026 {merchant}. All rights reserved. Privacy Policy | Terms of Use | Accessibility | Contact us",
              f"Ref: {rand_str(rng, 8, '0123456789ABCDEF')}-{rand_str(rng, 4, '0123456789ABCDEF')}  [image: {merchant} logo] [image: tracking pixel]"]
    data = {"merchant": merchant, "order_id": oid, "order_date": ordered.strftime("%Y-%m-%d"), "items": items,
            "subtotal": subtotal, "tax": tax, "shipping": shipping, "total": total, "currency": "USD", "ship_to_city": city[0]}
    note = "\n".join(lines)
    if rng.random() < 0.3:
        note = f"fwd for expenses - {pick(rng, ['team offsite', 'lab equipment', 'office restock', 'client visit', 'firmware test rig'])}\n\n---------- Forwarded message ---------\n" + note
    return note, data


def order_call(rng, when) -> Call:
    email, data = make_order_email(rng, when)
    answer = json.dumps(data, indent=2)
    if rng.random() < 0.1:
        answer = f"```json\n{answer}\n```"
    return Call("order_email_extraction", when, ORDER_SYSTEM, [{"role": "user", "content": email}], answer,
                {"temperature": 0, "max_tokens": 1024})


# --------------------------------------------------------------------------------------------------
# Workload: meeting-notes summarisation (Bedrock, Amazon Nova Pro)
# --------------------------------------------------------------------------------------------------

MEETING_SYSTEM = ("Summarise the raw meeting notes for people who missed the meeting. Format: a 2-3 sentence "
                  "**Summary**, then **Decisions** as bullets, then **Action items** as bullets of the form "
                  "'Owner - task (due date)'. Only include what the notes support; do not invent owners or dates.")
TOPICS = {
    "Platform": [("Postgres 16 upgrade", "staging upgrade went fine, prod window needs sign-off from payments", "schedule the prod upgrade window", "upgrade prod on the {day} maintenance window"),
                 ("Kafka consumer lag on device-events", "lag peaks ~40k msgs at 18:00 UTC, autoscaling too slow", "tune the HPA for device-events consumers", "raise min replicas from 4 to 8"),
                 ("Cost review", "video transcoding nodes are 38% of the cloud bill, spot instances tested", "write up the spot rollout plan", "move transcoding to spot with on-demand fallback"),
                 ("On-call load", "14 pages last week, 9 were the flaky disk alert", "fix or delete the disk-usage alert", "silence the disk alert below 85%")],
    "Mobile": [("6.12 release", "crash-free sessions 99.3%, one crash in the camera live view on Android 15", "hotfix the live-view crash", "ship 6.12.1 before the marketing push"),
               ("Widget", "prototype works on iOS, Android widget needs Glance migration", "spike the Glance migration", "ship iOS widget first, Android in Q1"),
               ("App store reviews", "rating dropped to 4.2 after login change, 2FA code complaints", "add 'resend code' and clearer error copy", "revert the 30s code timeout to 60s")],
    "Firmware": [("Cam Outdoor disconnects", "E-1xx errors traced to DHCP renew bug in 4.3.x", "patch DHCP renew handling", "stage 4.3.9 to 5% of devices"),
                 ("Doorbell battery drain", "drain 2x expected with PIR sensitivity high", "collect battery telemetry from beta units", "default PIR sensitivity to medium"),
                 ("Matter certification", "test lab slot confirmed for Nov 18, two failing test cases", "fix the two failing TCs", "freeze Matter branch Nov 10")],
    "Support Ops": [("Ticket backlog", "backlog 1,240 tickets, median first response 9h", "pull two agents from tier2 to tier1 for two weeks", "temporary weekend shift"),
                    ("Triage automation", "auto-labels are right ~94% of the time by spot check, refunds confused with billing", "add refund examples to the triage prompt", "keep the human check on refund labels"),
                    ("CSAT", "CSAT 4.1, lowest on connectivity tickets", "write a connectivity troubleshooting macro", "escalate E-1xx tickets straight to tier2")],
    "Growth": [("Holiday campaign", "Protect bundle discount performing 2x last year in test", "prepare creative for the bundle", "run the bundle from Nov 24 to Dec 2"),
               ("Referral program", "referral signups flat, reward not visible in app", "move the referral banner to the home tab", "raise reward to one free month"),
               ("Pricing page test", "annual-first layout lifted annual mix by 6 points", "roll out annual-first to 100%", "keep monthly as the default in the app")],
    "Data": [("Event pipeline", "late-arriving events break daily revenue dashboards", "add a 48h reprocessing window", "move dashboards to the reprocessed tables"),
             ("dbt migration", "42 of 60 models migrated, tests failing on subscriptions", "fix subscription model tests", "cut over on the 1st"),
             ("LLM spend", "API bill up 30% month over month, triage and code review are the biggest users", "break down spend by workload", "evaluate a local model for classification")],
    "Payments": [("Chargebacks", "chargeback rate 0.41%, threshold is 0.65%", "add 3DS for orders over $300", "monitor weekly until year end"),
                 ("Annual renewals", "renewal emails going to spam for Outlook users", "fix SPF/DKIM for the billing domain", "resend the October reminder batch")],
    "Security": [("Pen test findings", "2 highs: IDOR on clip sharing links, verbose errors on the auth service", "fix the IDOR before the retest", "retest booked for the 28th"),
                 ("Secrets in repos", "scanner found 3 live keys in old repos, rotated", "enable push protection on all repos", "make secret scanning a required check"),
                 ("Vendor review", "new LLM vendor DPA still in legal review", "send the DPA questionnaire", "no customer data to the vendor until signed")],
}


DISCUSSION = [
    "{who}: last time we tried something like this it took {n} days longer than planned",
    "{who} shared the dashboard for {topic}; numbers roughly match what {other} saw last week",
    "{other} asked whether {team} needs to be in the loop; {who} will check but thinks not",
    "discussion about whether to wait for the quarterly planning before committing",
    "{who}: the doc for {topic} is in the shared drive, comments welcome before Friday",
    "{other} raised that the on-call rotation is already thin this month",
    "{who} thinks we should measure before and after, {other} agreed",
    "some back and forth on ownership, parked for now",
    "{other}: customers have asked about this {n} times in support tickets this month",
    "{who} wondered if there is a cheaper option; nobody had numbers",
    "{other} will pair with {who} on it if needed",
    "question from {who} about the risk for the holiday freeze; {other} says we are clear until Nov 20",
    "{who} mentioned a similar write-up from the {team} team that may help",
    "agreed the current approach is ok as a stopgap, not long term",
]


def make_meeting(rng: random.Random, when: datetime) -> tuple[str, str]:
    team = pick(rng, TEAMS)
    topics = rng.sample(TOPICS[team], k=min(len(TOPICS[team]), rng.randrange(2, 4)))
    people = []
    while len(people) < rng.randrange(4, 8):
        p = pick(rng, FIRST)
        if p not in people:
            people.append(p)
    kind = pick(rng, ["weekly sync", "planning", "retro", "standup (long one)", "review"])
    day = when.strftime("%Y-%m-%d")
    lines = [f"{team} {kind} - {day}", f"attendees: {', '.join(people)}" + (f" (+{pick(rng, FIRST)} late)" if rng.random() < 0.3 else ""), ""]
    decisions, actions = [], []
    for topic, status, action, decision in topics:
        owner = pick(rng, people)
        due = when + timedelta(days=rng.randrange(2, 15))
        decision = decision.format(day=pick(rng, ["Tuesday", "Thursday", "Saturday"]))
        lines.append(f"## {topic}")
        lines.append(f"- {status}")
        lines.append(f"- {pick(rng, people)}: {pick(rng, ['concerned about timeline', 'thinks we can do it in one sprint', 'wants data first', 'ok with it', 'asked about rollback plan'])}")
        for _ in range(rng.randrange(2, 7)):  # the discussion: most of any real set of notes, none of it a decision
            lines.append("- " + pick(rng, DISCUSSION).format(who=pick(rng, people), other=pick(rng, people), topic=topic.lower(),
                                                            n=rng.randrange(2, 40), team=pick(rng, TEAMS)))
        if rng.random() < 0.8:
            lines.append(f"- decided: {decision}")
            decisions.append(decision)
        lines.append(f"- AI {owner}: {action} by {due.strftime('%b %d')}")
        actions.append(f"{owner} - {action} ({due.strftime('%b %d')})")
        lines.append("")
    if rng.random() < 0.5:
        lines.append(f"misc: {pick(rng, ['offsite dates still TBD', 'new hire starting Monday', 'reminder to fill in the survey', 'demo day on Friday'])}")
    notes = "\n".join(lines)
    names = ", ".join(t[0] for t in topics[:-1]) + f" and {topics[-1][0]}" if len(topics) > 1 else topics[0][0]
    summary = (f"**Summary**\nThe {team} team's {kind.split(' (')[0]} covered {names}. "
               + " ".join(f"{t[0]}: {t[1][0].upper()}{t[1][1:]}." for t in topics[:2])
               + "\n\n**Decisions**\n" + ("\n".join(f"- {d[0].upper()}{d[1:]}" for d in decisions) if decisions else "- None recorded")
               + "\n\n**Action items**\n" + "\n".join(f"- {a}" for a in actions))
    return notes, summary


def meeting_call(rng, when) -> Call:
    notes, summary = make_meeting(rng, when)
    return Call("meeting_summaries", when, MEETING_SYSTEM, [{"role": "user", "content": notes}], summary,
                {"temperature": 0.3, "max_tokens": 700})


# --------------------------------------------------------------------------------------------------
# Workload: long-document reasoning (contracts and incident reports; Anthropic, Claude Opus 4.1, cached)
# --------------------------------------------------------------------------------------------------

LONGDOC_SYSTEM = ("You are Halcyon's in-house analyst for legal and operational documents. Answer strictly from the "
                  "document provided. Cite section numbers (or timeline timestamps) for every claim, point out any "
                  "place where two parts of the document contradict each other, and say plainly when the document "
                  "does not answer the question.")
COUNTERPARTIES = [("Cloudspire Hosting Inc.", "Provider", "a Delaware corporation", "video storage and transcoding services"),
                  ("Meridian Analytics LLC", "Provider", "a New York limited liability company", "customer analytics and reporting software"),
                  ("Tessellate Networks Ltd.", "Provider", "a company registered in England and Wales", "managed cellular connectivity for devices"),
                  ("Northbeam Payments Inc.", "Provider", "a Texas corporation", "payment processing and subscription billing services"),
                  ("Relay Field Services LLC", "Provider", "a North Carolina limited liability company", "professional installation services for Halcyon devices")]
LAW = [("the State of Delaware", "Wilmington, Delaware"), ("the State of New York", "New York County, New York"),
       ("England and Wales", "London, England")]


# (item, unit, low, high unit price in USD): what each kind of provider bills for
RATE_ITEMS = {
    "video storage and transcoding services": [
        ("Object storage, standard tier", "TB-month", 8, 24), ("Object storage, infrequent access", "TB-month", 3, 11),
        ("Object storage, archive", "TB-month", 0.9, 4), ("Transcoding, 1080p H.264", "hour of video", 0.6, 2.4),
        ("Transcoding, 2K HEVC", "hour of video", 1.1, 3.8), ("Thumbnail and preview generation", "1,000 images", 0.2, 1.4),
        ("Egress to the internet", "TB", 18, 85), ("CDN delivery", "TB", 9, 38), ("API requests", "million requests", 0.3, 4.5),
        ("Dedicated transcoding node", "node-month", 850, 2400), ("Snapshot retention, 30 days", "TB-month", 2, 9),
        ("Cross-region replication", "TB", 10, 40)],
    "customer analytics and reporting software": [
        ("Analyst seat", "seat-month", 45, 160), ("Viewer seat", "seat-month", 8, 30), ("Event ingestion", "million events", 4, 28),
        ("Event retention beyond 13 months", "million events-month", 0.4, 3), ("Warehouse connector", "connector-month", 120, 650),
        ("Custom dashboard build", "dashboard", 800, 3900), ("Scheduled report delivery", "1,000 deliveries", 6, 30),
        ("Sandbox workspace", "workspace-month", 150, 900), ("Data export API", "million rows", 1.5, 9),
        ("Premium support", "month", 450, 2900), ("Single sign-on add-on", "month", 200, 1200), ("Audit log export", "month", 90, 600)],
    "managed cellular connectivity for devices": [
        ("LTE-M data, pooled", "GB", 1.8, 9), ("NB-IoT data, pooled", "GB", 2.5, 12), ("SIM activation", "SIM", 0.5, 3),
        ("SIM monthly fee", "SIM-month", 0.2, 1.4), ("eSIM profile download", "profile", 0.3, 2.2),
        ("SMS, mobile-terminated", "1,000 SMS", 2, 12), ("Static IP address", "SIM-month", 0.5, 4), ("Roaming surcharge", "GB", 1, 8),
        ("Private APN", "month", 300, 1800), ("Connectivity management API", "million calls", 1, 6),
        ("SIM suspension", "SIM-month", 0.05, 0.4), ("Network diagnostics package", "month", 150, 900)],
    "payment processing and subscription billing services": [
        ("Card transaction, domestic", "transaction", 0.08, 0.3), ("Card transaction, international", "transaction", 0.12, 0.5),
        ("Subscription invoice generated", "1,000 invoices", 4, 25), ("Chargeback handling", "chargeback", 8, 25),
        ("3-D Secure authentication", "1,000 checks", 3, 18), ("Account updater", "1,000 updates", 5, 30),
        ("Payout to bank account", "payout", 0.1, 1.5), ("Currency conversion", "1,000 conversions", 6, 40),
        ("Dunning email", "1,000 emails", 1, 8), ("Tax calculation", "1,000 calculations", 2, 15),
        ("Revenue recognition module", "month", 400, 2500), ("Dedicated account manager", "month", 600, 3500)],
    "professional installation services for Halcyon devices": [
        ("Thermostat installation", "job", 79, 179), ("Thermostat installation with C-wire adapter", "job", 99, 219),
        ("Doorbell installation, wired", "job", 69, 159), ("Doorbell installation, battery", "job", 39, 99),
        ("Camera installation, indoor", "camera", 29, 79), ("Camera installation, outdoor", "camera", 59, 149),
        ("Hub and sensor setup", "job", 49, 119), ("Site survey", "visit", 35, 95), ("Trip charge, rural zone", "visit", 20, 75),
        ("After-hours surcharge", "job", 30, 90), ("Return visit, customer not home", "visit", 25, 70),
        ("Old equipment removal and recycling", "job", 15, 45)],
}
RATE_REGIONS = ["US East", "US West", "US Central", "Canada", "UK", "EU Central", "EU West", "Nordics"]
RATE_TERMS = [("on-demand", 1.0), ("1-year commitment", 0.88), ("3-year commitment", 0.74)]


def make_rate_card(rng: random.Random, scope: str, rows: int) -> list[dict]:
    """Graduated prices: the first `t1` units at p1, units up to `t2` at p2, the rest at p3."""
    combos = [(item, region, term) for item in RATE_ITEMS[scope] for region in RATE_REGIONS for term in RATE_TERMS]
    chosen = sorted(rng.sample(range(len(combos)), k=min(rows, len(combos))))
    card = []
    for n, idx in enumerate(chosen, start=1):
        (item, unit, lo, hi), region, (term, factor) = combos[idx]
        base = rng.uniform(lo, hi) * factor
        t1 = pick(rng, [10, 50, 100, 250, 500, 1000])
        t2 = t1 * pick(rng, [5, 10, 20])
        p1 = round(base, 4 if base < 1 else 2)
        p2 = round(base * rng.uniform(0.78, 0.92), 4 if base < 1 else 2)
        p3 = round(base * rng.uniform(0.6, 0.77), 4 if base < 1 else 2)
        sku = f"{''.join(w[0] for w in item.split()[:3]).upper()}-{region.replace(' ', '')[:4].upper()}-{term[0].upper()}{rng.randrange(100, 999)}"
        card.append({"n": n, "sku": sku, "item": item, "unit": unit, "region": region, "term": term,
                     "t1": t1, "t2": t2, "p": [p1, p2, p3]})
    return card


def rate_line(row: dict) -> str:
    p1, p2, p3 = (f"USD {p:,.4f}".rstrip("0").rstrip(".") if p < 1 else f"USD {p:,.2f}" for p in row["p"])
    return (f"F.{row['n']} {row['sku']} | {row['item']} | {row['region']} | {row['term']} | per {row['unit']}: "
            f"first {row['t1']:,} {p1}; next {row['t2'] - row['t1']:,} {p2}; above {row['t2']:,} {p3}")


def tiered_cost(row: dict, prices: list[float], qty: int) -> float:
    first = min(qty, row["t1"])
    second = min(max(qty - row["t1"], 0), row["t2"] - row["t1"])
    third = max(qty - row["t2"], 0)
    return first * prices[0] + second * prices[1] + third * prices[2]


SUBPROCESSORS = [("Amazon Web Services, Inc.", "cloud hosting", "United States"), ("Google LLC", "cloud hosting and analytics", "United States"),
                 ("Microsoft Corporation", "email and productivity", "United States"), ("Cloudflare, Inc.", "content delivery and DDoS protection", "United States"),
                 ("Datadog, Inc.", "monitoring and logging", "United States"), ("Twilio Inc.", "SMS delivery", "United States"),
                 ("Zendesk, Inc.", "customer support tickets", "United States"), ("Snowflake Inc.", "data warehousing", "United States"),
                 ("Atlassian Pty Ltd", "issue tracking", "Australia"), ("Hetzner Online GmbH", "backup hosting", "Germany"),
                 ("OVH SAS", "disaster-recovery hosting", "France"), ("Salesforce, Inc.", "CRM", "United States"),
                 ("Okta, Inc.", "identity and single sign-on", "United States"), ("PagerDuty, Inc.", "incident alerting", "United States"),
                 ("Sentry (Functional Software, Inc.)", "error tracking", "United States"), ("Mailgun Technologies, Inc.", "transactional email", "United States"),
                 ("Intercom R&D Unlimited Company", "in-app messaging", "Ireland"), ("DigitalOcean, LLC", "build infrastructure", "United States"),
                 ("Fastly, Inc.", "edge delivery", "United States"), ("Elastic N.V.", "search hosting", "Netherlands")]

SECURITY_QUESTIONS = [
    ("Governance", "Is there a documented information security policy approved by management?", ["Yes. Reviewed annually by the executive team; last approved {d}.", "Yes. Owned by the CISO and reviewed every 12 months."]),
    ("Governance", "Do you have a dedicated security officer?", ["Yes, a full-time CISO reporting to the CEO.", "Yes, a Head of Security with a team of {n}."]),
    ("Governance", "Do you carry cyber liability insurance?", ["Yes, USD {m} million per claim.", "Yes, see Section 11."]),
    ("Certifications", "Do you hold a current SOC 2 Type II report?", ["Yes, covering Security, Availability and Confidentiality; period ending {d}.", "Yes; available under NDA."]),
    ("Certifications", "Are you ISO 27001 certified?", ["Yes, certificate valid until {d}.", "No. We follow ISO 27001 controls and plan certification next year.", "In progress; Stage 2 audit scheduled."]),
    ("Certifications", "Are you PCI DSS compliant?", ["Yes, Level 1 service provider (AOC available).", "Not applicable: no cardholder data is processed.", "Yes, SAQ D."]),
    ("Access control", "Is multi-factor authentication required for all administrative access?", ["Yes, hardware keys (FIDO2) for production.", "Yes, TOTP or push for all staff."]),
    ("Access control", "How often are access rights reviewed?", ["Quarterly for production; semi-annually for corporate systems.", "Monthly for privileged roles, quarterly for all others."]),
    ("Access control", "Is access revoked promptly when staff leave?", ["Within 1 business day, automated from the HR system.", "Same day, via SCIM deprovisioning."]),
    ("Access control", "Do support staff have standing access to customer data?", ["No. Access requires a ticket and customer approval, expires after {n} hours and is logged.", "No; break-glass access only, approved by two people."]),
    ("Encryption", "Is customer data encrypted at rest?", ["Yes, AES-256 with keys in a cloud KMS, rotated annually.", "Yes, AES-256; customer-managed keys available on request."]),
    ("Encryption", "Is data encrypted in transit?", ["Yes, TLS 1.2+ everywhere; TLS 1.3 preferred.", "Yes, TLS 1.2 or higher, HSTS enabled."]),
    ("Encryption", "Are backups encrypted?", ["Yes, with separate keys from production.", "Yes, AES-256."]),
    ("Network", "Are production networks segmented from corporate networks?", ["Yes, separate VPCs with no direct routes.", "Yes; access only through a bastion with MFA."]),
    ("Network", "Do you run intrusion detection?", ["Yes, managed IDS with 24x7 monitoring.", "Yes, host-based and network-based."]),
    ("Network", "Is there DDoS protection?", ["Yes, through our CDN provider.", "Yes, always-on mitigation."]),
    ("Vulnerability management", "How often do you scan for vulnerabilities?", ["Weekly authenticated scans; continuous dependency scanning.", "Daily for internet-facing assets, weekly internally."]),
    ("Vulnerability management", "What are your remediation timelines?", ["Critical 7 days, high 30 days, medium 90 days.", "Critical 72 hours, high 14 days, medium 60 days."]),
    ("Vulnerability management", "Do you commission independent penetration tests?", ["Yes, annually and after major changes; summary letter available.", "Yes, twice a year by {vendor}."]),
    ("Vulnerability management", "Do you run a bug bounty program?", ["Yes, a private program with {n} researchers.", "No; we accept reports at security@ and respond within 2 business days."]),
    ("Secure development", "Is code peer reviewed before deployment?", ["Yes, at least one approving review, enforced by branch protection.", "Yes, two reviewers for security-sensitive paths."]),
    ("Secure development", "Do you scan code for secrets?", ["Yes, pre-commit hooks and push protection on all repositories.", "Yes, in CI; findings block the merge."]),
    ("Secure development", "Do you use static analysis?", ["Yes, SAST on every pull request.", "Yes, plus dependency scanning (SCA)."]),
    ("Logging", "How long are security logs retained?", ["12 months hot, 3 years archived.", "400 days."]),
    ("Logging", "Are logs protected from tampering?", ["Yes, write-once storage in a separate account.", "Yes, forwarded to an immutable SIEM."]),
    ("Incident response", "Do you have an incident response plan?", ["Yes, tested with a tabletop exercise at least annually.", "Yes; last exercised {d}."]),
    ("Incident response", "How quickly will you notify us of a breach?", ["Within the period in Section 7.3 of the Agreement.", "Without undue delay, see Section 7.3."]),
    ("Incident response", "Have you had a reportable security incident in the last 3 years?", ["No.", "One, in {y}, affecting no customer data; post-mortem available under NDA."]),
    ("Business continuity", "What are your RTO and RPO?", ["RTO 8 hours, RPO 1 hour.", "RTO 4 hours, RPO 15 minutes for the core service."]),
    ("Business continuity", "How often do you test backup restores?", ["Quarterly.", "Monthly automated restore tests; annual full DR exercise."]),
    ("Business continuity", "Are backups stored in a separate region?", ["Yes.", "Yes, in a separate region and a separate account."]),
    ("Privacy", "Where is customer data stored?", ["United States (us-east-1, us-west-2).", "US by default; EU region available."]),
    ("Privacy", "Do you use customer data to train machine-learning models?", ["No.", "No, unless the customer opts in in writing.", "Only de-identified aggregates, see Section 8.4."]),
    ("Privacy", "Do you sell or share personal data with third parties?", ["No. Subprocessors only, see Exhibit G.", "No."]),
    ("Privacy", "How do you handle data subject requests?", ["We forward them to the customer within 5 business days and assist as required by the DPA.", "Through the support portal, within 10 days."]),
    ("Vendor management", "Do you assess your subprocessors' security?", ["Yes, before onboarding and annually.", "Yes, using questionnaires and SOC reports."]),
    ("Personnel", "Are employees background checked?", ["Yes, where permitted by law.", "Yes, for all staff with production access."]),
    ("Personnel", "Is security awareness training mandatory?", ["Yes, at onboarding and annually, with phishing simulations.", "Yes, annually."]),
    ("Physical", "Do you operate your own data centres?", ["No, we use {cloud}, which holds SOC 2 and ISO 27001.", "No; colocation in SOC 2 certified facilities."]),
    ("Physical", "Are offices access controlled?", ["Yes, badge access and visitor logs.", "Yes; no production access from offices."]),
    ("AI", "Do you use generative AI services to process customer data?", ["No.", "Only for support ticket summaries, with the vendor's zero-retention option.", "Not without prior written consent."]),
    ("AI", "If so, are prompts and outputs retained by the AI vendor?", ["Not applicable.", "No, zero data retention is configured.", "For up to 30 days for abuse monitoring."]),
]


def make_questionnaire(rng: random.Random, k: int) -> list[str]:
    rows = []
    items = rng.sample(SECURITY_QUESTIONS, k=min(k, len(SECURITY_QUESTIONS)))
    items.sort(key=lambda q: [c for c, _, _ in SECURITY_QUESTIONS].index(q[0]))
    for n, (cat, question, answers) in enumerate(items, start=1):
        answer = pick(rng, answers).format(d=f"{pick(rng, MONTHS)} {rng.randrange(2024, 2027)}", n=rng.randrange(3, 40), m=pick(rng, [2, 5, 10]),
                                           vendor=pick(rng, ["NCC Group", "Bishop Fox", "Trail of Bits", "Cure53"]), y=rng.randrange(2023, 2026),
                                           cloud=pick(rng, ["AWS", "Google Cloud", "Azure"]))
        rows.append(f"H.{n} [{cat}] {question}\n    Response: {answer}")
    return rows


def make_sow(rng: random.Random, scope: str, eff: datetime, fees: int) -> str:
    n_ms = rng.randrange(6, 14)
    milestones, when = [], eff
    for i in range(1, n_ms + 1):
        when = when + timedelta(days=rng.randrange(10, 45))
        milestones.append(f"M{i}. {pick(rng, ['Kick-off and requirements sign-off', 'Environment provisioned', 'Integration with Halcyon staging', 'Data migration dry run', 'Security review passed', 'Load test at 2x peak', 'Pilot in one region', 'Production cutover', 'Hypercare complete', 'Runbook handover', 'Reporting dashboards live', 'Training delivered'])}"
                          f" - target {when.strftime('%B %d, %Y')} - fee USD {round(fees * rng.uniform(0.01, 0.06), -2):,.0f} - acceptance: {pick(rng, ['written sign-off by the Halcyon project lead', 'all test cases in the acceptance plan pass', 'five business days without a Severity 1 or 2 defect', 'Halcyon confirms in the project channel'])}")
    assumptions = rng.sample([
        "Halcyon provides access to a staging environment within 10 business days of kick-off.",
        "Halcyon nominates a project lead with authority to accept deliverables.",
        "Provider's team works remotely; on-site visits are billed at cost with prior approval.",
        "Delays caused by Halcyon move the affected milestones by the same number of days.",
        "Work outside this Statement of Work follows the change-control procedure in I.5.",
        "All deliverables are in English.",
        "Provider uses its standard tooling; licences for Halcyon's own tools are Halcyon's responsibility.",
        "Test data is synthetic or anonymised; Provider will not need production Customer Data before cutover.",
        "Meetings are held weekly; minutes are circulated within two business days.",
        "Halcyon's security team reviews the integration design before milestone 4.",
        "Provider's staff follow Halcyon's acceptable use policy when using Halcyon systems.",
        "Third-party costs (cloud, carriers, couriers) are passed through without mark-up.",
    ], k=rng.randrange(6, 12))
    return ("EXHIBIT I - STATEMENT OF WORK No. 1\n"
            f"I.1 Objective. Provider will implement {scope} for Halcyon's production environment, replacing the current in-house solution.\n"
            "I.2 Milestones, fees and acceptance.\n" + "\n".join(milestones) + "\n"
            "I.3 Assumptions.\n" + "\n".join(f"- {a}" for a in assumptions) + "\n"
            "I.4 Project governance. Each party names a project lead. The leads meet weekly and escalate unresolved issues to a steering group that meets monthly.\n"
            "I.5 Change control. Either party may request a change in writing. Provider will respond within five business days with the impact on scope, timeline and fees. No change is binding until both project leads sign it.\n"
            "I.6 Warranty on deliverables. Provider will correct any deliverable that does not meet its acceptance criteria, at no additional charge, if notified within thirty (30) days of acceptance.")


def _para(*sentences: str) -> str:
    return " ".join(s for s in sentences if s)


def make_contract(rng: random.Random) -> tuple[str, dict]:
    cp, role, cp_form, scope = pick(rng, COUNTERPARTIES)
    halcyon_role = "Customer" if role == "Provider" else "Provider"
    provider = cp if role == "Provider" else "Halcyon Labs Inc."
    customer = "Halcyon Labs Inc." if role == "Provider" else cp
    eff = datetime(pick(rng, [2024, 2025]), rng.randrange(1, 13), 1)
    f = {  # the facts each answer is built from; some are planted to disagree
        "cap_months": pick(rng, [6, 12, 12, 24]), "data_cap": pick(rng, ["unlimited", "three times (3x) the Fees paid in the twelve (12) months preceding the claim", "USD 2,000,000"]),
        "data_cap_conflict": rng.random() < 0.6, "tfc_days": pick(rng, [30, 60, 90]), "order_tfc_days": None,
        "renew_notice": pick(rng, [30, 60, 90]), "term_years": pick(rng, [1, 2, 3]), "net": pick(rng, [30, 45, 60]),
        "uptime": pick(rng, ["99.9", "99.95", "99.5"]), "credit1": pick(rng, [10, 5]), "credit2": pick(rng, [25, 20]),
        "credit_cap": pick(rng, [30, 50]), "sole_remedy": rng.random() < 0.7, "delete_days": pick(rng, [30, 60]),
        "dpa_delete_days": None, "breach_notice_h": pick(rng, [24, 48, 72]), "law": pick(rng, LAW), "venue_conflict": rng.random() < 0.3,
        "fees": pick(rng, [18500, 42000, 96000, 240000]), "provider": provider, "customer": customer, "cp": cp,
        "eff": eff, "halcyon_role": halcyon_role,
    }
    f["order_tfc_days"] = pick(rng, [f["tfc_days"], f["tfc_days"], 120 if f["tfc_days"] != 120 else 60])
    f["dpa_delete_days"] = pick(rng, [f["delete_days"], 90 if f["delete_days"] != 90 else 120])
    venue_law = pick(rng, [l for l in LAW if l != f["law"]])[1] if f["venue_conflict"] else f["law"][1]
    uptime_down = {"99.9": "43.8 minutes", "99.95": "21.9 minutes", "99.5": "3.65 hours"}[f["uptime"]]
    s = []
    s.append(f"MASTER SERVICES AGREEMENT\n\nThis Master Services Agreement (the \"Agreement\") is entered into as of {MONTHS[eff.month - 1]} {eff.day}, {eff.year} "
             f"(the \"Effective Date\") by and between {provider} (\"Provider\") and {customer} (\"Customer\"). "
             f"{cp} is {cp_form}; Halcyon Labs Inc. is a Delaware corporation with offices at 200 Hudson St, New York, NY 10013. "
             f"Provider will supply {scope} as described in one or more Order Forms.")
    s.append("1. DEFINITIONS\n" + "\n".join([
        "1.1 \"Affiliate\" means any entity that directly or indirectly controls, is controlled by, or is under common control with a party, where control means ownership of more than fifty percent (50%) of the voting interests.",
        "1.2 \"Customer Data\" means all data, including Personal Data, video, images, telemetry and account information, submitted to the Services by or on behalf of Customer or its end users.",
        "1.3 \"Documentation\" means Provider's then-current technical and user documentation for the Services.",
        "1.4 \"Fees\" means the amounts payable by Customer under each Order Form.",
        "1.5 \"Order Form\" means an ordering document executed by both parties that references this Agreement.",
        "1.6 \"Personal Data\" has the meaning given in the Data Processing Addendum attached as Exhibit C (the \"DPA\").",
        "1.7 \"Security Incident\" means any unauthorized access to, or acquisition, disclosure or loss of, Customer Data.",
        "1.8 \"Services\" means the services described in an Order Form, including any software, APIs and support.",
        "1.9 \"Service Level Agreement\" or \"SLA\" means the service levels set out in Exhibit B."]))
    s.append("2. SERVICES\n" + "\n".join([
        "2.1 Provision. Provider will make the Services available to Customer during the Term in accordance with this Agreement, the applicable Order Form and the Documentation.",
        "2.2 Affiliates. Customer's Affiliates may use the Services under Customer's account, and Customer is responsible for their compliance with this Agreement.",
        "2.3 Changes. Provider may update the Services from time to time, provided that no update materially reduces the functionality, security or service levels of the Services during the then-current term.",
        "2.4 Subcontractors. Provider may use subcontractors to perform the Services, remains responsible for their performance, and will maintain a list of subprocessors as described in the DPA."]))
    s.append("3. FEES AND PAYMENT\n" + "\n".join([
        f"3.1 Fees. Customer will pay the Fees set out in each Order Form. Fees for the initial Order Form total USD {f['fees']:,} per contract year.",
        f"3.2 Invoicing and payment. Provider will invoice annually in advance unless the Order Form states otherwise. Invoices are due net {f['net']} days from the invoice date.",
        "3.3 Late payment. Undisputed amounts not paid when due accrue interest at the lesser of 1.5% per month or the maximum rate permitted by law.",
        "3.4 Disputes. Customer may withhold disputed amounts in good faith if it notifies Provider in writing within fifteen (15) days of the invoice date, describing the dispute in reasonable detail.",
        "3.5 Taxes. Fees exclude taxes. Customer is responsible for all sales, use, VAT and similar taxes, excluding taxes on Provider's income.",
        "3.6 Price changes. Provider may increase Fees for any renewal term by no more than five percent (5%) by notice given at least ninety (90) days before the renewal date."]))
    s.append("4. TERM AND TERMINATION\n" + "\n".join([
        f"4.1 Term. This Agreement begins on the Effective Date and continues for an initial term of {f['term_years']} year(s). It then renews automatically for successive twelve (12) month renewal terms unless either party gives written notice of non-renewal at least {f['renew_notice']} days before the end of the then-current term.",
        f"4.2 Termination for convenience. Customer may terminate this Agreement or any Order Form for convenience on {f['tfc_days']} days' prior written notice. Prepaid Fees for the remainder of the then-current term are non-refundable except as stated in Section 4.4.",
        "4.3 Termination for cause. Either party may terminate this Agreement on written notice if the other party materially breaches it and does not cure the breach within thirty (30) days after receiving notice describing it.",
        "4.4 Effect of termination. On termination by Customer under Section 4.3, Provider will refund any prepaid Fees covering the period after termination.",
        f"4.5 Return and deletion of data. For thirty (30) days after termination Customer may export its Customer Data. Provider will then delete Customer Data from its systems within {f['delete_days']} days after the end of the export period, except as required by law.",
        "4.6 Survival. Sections 3, 4.4, 4.5, 6, 8, 9, 13 and 16 survive termination."]))
    s.append("5. SERVICE LEVELS\n" + "\n".join([
        f"5.1 Availability. Provider will make the Services available in accordance with the SLA in Exhibit B.",
        ("5.2 Remedy. Service credits under the SLA are Customer's sole and exclusive remedy for any failure to meet the service levels." if f["sole_remedy"]
         else "5.2 Remedy. Service credits under the SLA are in addition to, and not in lieu of, any other rights or remedies Customer may have."),
        "5.3 Chronic failure. If availability falls below the committed level in any three (3) months within a rolling six (6) month period, Customer may terminate the affected Order Form on written notice without penalty."]))
    s.append("6. CONFIDENTIALITY\n" + "\n".join([
        "6.1 Definition. \"Confidential Information\" means non-public information disclosed by a party that is marked confidential or that a reasonable person would understand to be confidential, including Customer Data, pricing and product roadmaps.",
        "6.2 Obligations. The receiving party will use Confidential Information only to perform or receive the Services, protect it with at least reasonable care, and disclose it only to employees, contractors and advisers who need to know it and are bound by confidentiality obligations at least as protective as these.",
        "6.3 Exclusions. Confidential Information does not include information that is or becomes public through no fault of the receiving party, was known to it without restriction, is independently developed, or is rightfully received from a third party.",
        "6.4 Compelled disclosure. A party may disclose Confidential Information when required by law if it gives prompt notice (where lawful) and reasonable assistance to the other party to seek protective treatment.",
        "6.5 Duration. These obligations last for five (5) years after termination, and for trade secrets and Customer Data for as long as they remain protected by law."]))
    s.append("7. DATA PROTECTION AND SECURITY\n" + "\n".join([
        "7.1 DPA. The parties will comply with the DPA in Exhibit C, which forms part of this Agreement.",
        "7.2 Security program. Provider will maintain a written information security program with administrative, technical and physical safeguards appropriate to the nature of Customer Data, including encryption in transit and at rest, and will maintain a SOC 2 Type II report covering the Services.",
        f"7.3 Security Incidents. Provider will notify Customer without undue delay, and in any case within {f['breach_notice_h']} hours, after becoming aware of a Security Incident, and will provide the information Customer reasonably needs to meet its own notification obligations.",
        ("7.4 Liability for data breaches. Notwithstanding Section 9.2, Provider's aggregate liability arising from a Security Incident caused by Provider's breach of this Section 7 or the DPA shall be " + (f["data_cap"] + "." if f["data_cap"] != "unlimited" else "unlimited."))
        if f["data_cap_conflict"] else "7.4 Cooperation. Each party will reasonably cooperate with the other in investigating and remediating any Security Incident."]))
    s.append("8. INTELLECTUAL PROPERTY\n" + "\n".join([
        "8.1 Provider IP. Provider retains all rights in the Services, Documentation and any improvements to them. No rights are granted except as expressly set out in this Agreement.",
        "8.2 Customer Data. Customer retains all rights in Customer Data and grants Provider a limited license to process it solely to provide the Services.",
        "8.3 Feedback. Provider may use suggestions and feedback from Customer without restriction, provided it does not identify Customer.",
        "8.4 Aggregated data. Provider may use de-identified, aggregated usage statistics to operate and improve the Services, provided such data cannot reasonably be used to identify Customer or any individual."]))
    s.append("9. INDEMNIFICATION AND LIMITATION OF LIABILITY\n" + "\n".join([
        "9.1 Indemnity. Provider will defend Customer against any third-party claim alleging that the Services infringe that party's intellectual property rights, and pay any resulting damages finally awarded or agreed in settlement.",
        f"9.2 Cap. Except for the Excluded Claims, each party's aggregate liability arising out of or related to this Agreement will not exceed the Fees paid or payable by Customer in the {f['cap_months']} months preceding the event giving rise to the claim.",
        "9.3 Excluded Claims. \"Excluded Claims\" means a party's indemnification obligations, breach of Section 6 (Confidentiality), and liability for gross negligence, fraud or willful misconduct. The cap in Section 9.2 does not apply to Excluded Claims.",
        "9.4 Exclusion of damages. Neither party is liable for indirect, incidental, special, consequential or punitive damages, or for lost profits or revenues, even if advised of their possibility."]))
    s.append("10. WARRANTIES\n" + "\n".join([
        "10.1 Mutual. Each party warrants that it has the authority to enter into this Agreement and that its performance will comply with applicable law.",
        "10.2 Services. Provider warrants that the Services will perform materially in accordance with the Documentation. Customer's remedy for breach of this warranty is for Provider to correct the non-conformity or, if it cannot do so within thirty (30) days, to terminate the affected Order Form and refund prepaid Fees for the remainder of the term.",
        "10.3 Disclaimer. Except as expressly stated, the Services are provided \"as is\" and each party disclaims all other warranties, including implied warranties of merchantability and fitness for a particular purpose."]))
    s.append("11. INSURANCE\n11.1 Provider will maintain during the Term commercial general liability insurance of at least USD 2,000,000 per occurrence, cyber liability insurance of at least USD 5,000,000 per claim, and workers' compensation insurance as required by law, and will provide certificates of insurance on request.")
    s.append("12. ACCEPTABLE USE AND SUSPENSION\n" + "\n".join([
        "12.1 Restrictions. Customer will not, and will not permit anyone to: (a) resell, sublicense or provide the Services to third parties except to its end users as contemplated by an Order Form; (b) reverse engineer or attempt to derive the source code of the Services, except to the extent applicable law permits despite this restriction; (c) use the Services to store or transmit malicious code or unlawful material; (d) interfere with or disrupt the integrity or performance of the Services; or (e) access the Services to build a competing product.",
        "12.2 End-user obligations. Customer is responsible for obtaining any consents from its end users that are required for Provider to process Customer Data as described in this Agreement, including consents for video recording where required by law.",
        "12.3 Suspension. Provider may suspend Customer's access to the affected part of the Services if (a) Customer's use poses an imminent security risk to the Services or to other customers, or (b) undisputed Fees are more than thirty (30) days overdue after Provider has given written notice. Provider will limit any suspension to the minimum necessary, give notice before suspending where practicable, and restore access promptly once the cause is resolved.",
        "12.4 No waiver of Fees. Suspension under Section 12.3(b) does not relieve Customer of its obligation to pay Fees for the suspension period."]))
    s.append("13. AUDIT AND RECORDS\n" + "\n".join([
        "13.1 Records. Each party will keep accurate records relating to its performance under this Agreement for at least three (3) years after the relevant activity.",
        "13.2 Usage verification. No more than once in any twelve (12) month period, Provider may verify Customer's use of the Services against the quantities in the Order Forms, using the usage reports available in the Services. If verification shows use above the purchased quantities, Customer will pay for the excess at the then-current rates.",
        "13.3 Security audits. Customer's audit rights regarding security and Personal Data are set out in Exhibit C (C.9) and Exhibit D. Those rights are exclusive of any other audit rights under this Agreement."]))
    s.append("14. COMPLIANCE WITH LAWS\n" + "\n".join([
        "14.1 Export. Each party will comply with applicable export control and sanctions laws. Customer will not make the Services available to any person or entity on a U.S. or U.K. restricted-party list or in an embargoed country.",
        "14.2 Anti-corruption. Neither party has offered or received, or will offer or receive, any bribe, kickback or other improper payment in connection with this Agreement.",
        "14.3 Accessibility. Provider will use commercially reasonable efforts to ensure that end-user interfaces of the Services conform to WCAG 2.1 level AA.",
        "14.4 Changes in law. If a change in law makes it unlawful for Provider to provide any part of the Services, Provider may modify the Services to comply, and if it cannot reasonably do so, either party may terminate the affected Order Form and Provider will refund prepaid Fees for the period after termination."]))
    s.append("15. NON-SOLICITATION AND PUBLICITY\n" + "\n".join([
        "15.1 Non-solicitation. During the Term and for twelve (12) months afterwards, neither party will knowingly solicit for employment any employee of the other party who was directly involved in the Services, except through general advertisements not targeted at those employees.",
        "15.2 Publicity. Neither party will use the other's name or logo in publicity without prior written consent, except that Provider may list Customer's name in its customer lists after the Effective Date unless Customer opts out by notice.",
        "15.3 Independent contractors. The parties are independent contractors. Nothing in this Agreement creates a partnership, franchise, joint venture, agency or employment relationship."]))
    s.append("16. GENERAL\n" + "\n".join([
        f"16.1 Governing law. This Agreement is governed by the laws of {f['law'][0]}, without regard to its conflict-of-laws rules.",
        f"16.2 Venue. Each party submits to the exclusive jurisdiction of the courts located in {venue_law} for any dispute arising out of this Agreement.",
        "16.3 Notices. Notices must be in writing and are effective when delivered by hand, by courier, or by email with confirmation of receipt, to the addresses in the Order Form. Notices to Halcyon Labs Inc. must be copied to legal@halcyonlabs.example.",
        "16.4 Assignment. Neither party may assign this Agreement without the other's consent, except to a successor in a merger, acquisition or sale of substantially all of its assets, on written notice.",
        "16.5 Force majeure. Neither party is liable for delays caused by events beyond its reasonable control, excluding payment obligations.",
        "16.6 Order of precedence. If there is a conflict between documents, the following order applies: (a) the DPA, (b) this Agreement, (c) the Order Form, (d) the Documentation, unless the Order Form expressly states that it overrides a specific section of this Agreement.",
        "16.7 Entire agreement. This Agreement, its Exhibits and all Order Forms are the parties' entire agreement on its subject matter and supersede all prior agreements and understandings."]))
    s.append("EXHIBIT A - ORDER FORM No. 1\n" + "\n".join([
        f"Services: {scope}.", f"Subscription term: {f['term_years']} year(s) from the Effective Date.",
        f"Annual Fees: USD {f['fees']:,}, invoiced annually in advance.", f"Payment terms: net {f['net']} days.",
        (f"Special terms: Notwithstanding Section 4.2 of the Agreement, Customer may terminate this Order Form for convenience on {f['order_tfc_days']} days' prior written notice."
         if f["order_tfc_days"] != f["tfc_days"] else "Special terms: None."),
        "Primary contacts: as set out in the signature block."]))
    s.append("EXHIBIT B - SERVICE LEVEL AGREEMENT\n" + "\n".join([
        f"B.1 Availability commitment. The Services will be available {f['uptime']}% of the time in each calendar month, excluding Scheduled Maintenance (\"Monthly Uptime\"). This allows about {uptime_down} of unplanned downtime per month.",
        "B.2 Scheduled Maintenance. Maintenance announced at least 72 hours in advance and performed between 02:00 and 06:00 US Eastern time, not exceeding eight (8) hours per month.",
        f"B.3 Service credits. If Monthly Uptime is below {f['uptime']}% but at least 99.0%, Customer receives a credit of {f['credit1']}% of the monthly Fees. If Monthly Uptime is below 99.0%, the credit is {f['credit2']}% of the monthly Fees.",
        f"B.4 Credit cap. Total credits in any month will not exceed {f['credit_cap']}% of the monthly Fees for the affected Services.",
        "B.5 Claims. Customer must request credits within thirty (30) days after the end of the month in which the shortfall occurred.",
        "B.6 Support response times. Severity 1: 1 hour, 24x7. Severity 2: 4 business hours. Severity 3: 1 business day. Severity 4: 3 business days."]))
    s.append("EXHIBIT C - DATA PROCESSING ADDENDUM\n" + "\n".join([
        "C.1 Roles. Customer is the controller and Provider is the processor of Personal Data processed under the Agreement.",
        "C.2 Instructions. Provider will process Personal Data only on Customer's documented instructions, including those in the Agreement, unless required to do otherwise by law.",
        "C.3 Personnel. Provider will ensure that persons authorised to process Personal Data are bound by confidentiality obligations.",
        "C.4 Subprocessors. Customer authorises the subprocessors listed at Provider's trust center. Provider will give at least thirty (30) days' notice of any new subprocessor, and Customer may object on reasonable data-protection grounds.",
        f"C.5 Breach notification. Provider will notify Customer of a Personal Data breach within {f['breach_notice_h']} hours of becoming aware of it.",
        "C.6 Assistance. Provider will assist Customer with data subject requests, data protection impact assessments and consultations with supervisory authorities.",
        "C.7 International transfers. Transfers of Personal Data outside the EEA or UK will be made under the Standard Contractual Clauses or another valid transfer mechanism.",
        f"C.8 Deletion. On termination of the Agreement, Provider will delete all Personal Data within {f['dpa_delete_days']} days, unless retention is required by law, and will certify deletion on request.",
        "C.9 Audits. Provider will make available its SOC 2 Type II report annually and will allow one on-site audit per year on thirty (30) days' notice at Customer's expense."]))
    s.append("EXHIBIT D - INFORMATION SECURITY MEASURES\n" + "\n".join([
        "D.1 Governance. Provider maintains an information security policy approved by its executive team and reviewed at least annually, with a named security officer responsible for it.",
        "D.2 Personnel. Personnel with access to Customer Data complete background checks where lawful and security training at onboarding and annually, and sign confidentiality agreements.",
        "D.3 Access control. Access to production systems holding Customer Data is role-based, granted on least privilege, reviewed quarterly, and requires multi-factor authentication. Access is revoked within one (1) business day of a role change or departure.",
        "D.4 Encryption. Customer Data is encrypted in transit with TLS 1.2 or higher and at rest with AES-256. Encryption keys are managed in a hardware-backed key management service and rotated at least annually.",
        "D.5 Network security. Production networks are segmented from corporate networks, protected by firewalls with default-deny rules, and monitored by intrusion detection.",
        "D.6 Vulnerability management. Provider scans production systems for vulnerabilities at least weekly, remediates critical findings within seven (7) days and high findings within thirty (30) days, and commissions an independent penetration test at least annually.",
        "D.7 Secure development. Code changes are peer reviewed, tested in a non-production environment and scanned for secrets and known-vulnerable dependencies before deployment.",
        "D.8 Logging and monitoring. Security-relevant events are logged centrally, retained for at least one (1) year, and monitored for anomalies, with alerts triaged around the clock.",
        "D.9 Business continuity. Provider maintains backups of Customer Data in a separate region, tests restoration at least quarterly, and maintains a disaster recovery plan with a recovery time objective of eight (8) hours and a recovery point objective of one (1) hour.",
        "D.10 Physical security. Data centres used for the Services hold SOC 2 or ISO 27001 certification and restrict physical access to authorised personnel.",
        "D.11 Data segregation. Customer Data is logically segregated from the data of Provider's other customers.",
        "D.12 Incident response. Provider maintains an incident response plan, tests it at least annually, and follows it for every Security Incident, including notification under Section 7.3.",
        "D.13 Vendor management. Provider assesses the security of subprocessors before engagement and at least annually, and binds them to obligations no less protective than this Exhibit.",
        "D.14 Changes. Provider may update these measures provided the overall level of security does not decrease."]))
    s.append("EXHIBIT E - SUPPORT POLICY\n" + "\n".join([
        "E.1 Channels. Support is available through the support portal and by email; Severity 1 issues may also be raised by phone 24x7.",
        "E.2 Severity definitions. Severity 1: the Services are unavailable or a critical function fails for all users with no workaround. Severity 2: a major function is impaired for many users or a workaround is burdensome. Severity 3: a minor function is impaired or a reasonable workaround exists. Severity 4: questions, documentation issues and feature requests.",
        "E.3 Response targets. Provider will respond within the times in Exhibit B, B.6. Response means a qualified engineer has acknowledged the issue and begun work; it does not mean resolution.",
        "E.4 Escalation. If a Severity 1 or 2 issue is not resolved within one business day, Customer may escalate to Provider's head of support, whose contact details are in the support portal.",
        "E.5 Exclusions. Support does not cover issues caused by Customer's modifications, third-party products not supplied by Provider, or use of the Services contrary to the Documentation."]))
    _append_commercial_exhibits(rng, s, f, scope, eff)
    s.append(f"IN WITNESS WHEREOF, the parties have executed this Agreement as of the Effective Date.\n\n{provider}\nBy: {' '.join(person(rng))}\nTitle: {pick(rng, ['Chief Executive Officer', 'General Counsel', 'VP Sales'])}\n\n{customer}\nBy: {' '.join(person(rng))}\nTitle: {pick(rng, ['Chief Financial Officer', 'General Counsel', 'VP Operations'])}")
    if f["amended"]:
        row, new, since = f["amended"]["row"], f["amended"]["p"], f["amended"]["since"]
        s.append(f"AMENDMENT No. 1 TO THE MASTER SERVICES AGREEMENT\nThis Amendment is made on {since.strftime('%B %d, %Y')} between {provider} and {customer}. "
                 f"Capitalised terms have the meanings given in the Agreement.\n"
                 f"1. Pricing. With effect from {since.strftime('%B %d, %Y')}, the unit prices for SKU {row['sku']} in Exhibit F (line F.{row['n']}) are replaced by: "
                 f"first {row['t1']:,} units USD {new[0]:,}; next {row['t2'] - row['t1']:,} units USD {new[1]:,}; above {row['t2']:,} units USD {new[2]:,}.\n"
                 "2. No other changes. Except as set out in this Amendment, the Agreement remains unchanged and in full force and effect.\n"
                 f"Signed for {provider}: {' '.join(person(rng))}. Signed for {customer}: {' '.join(person(rng))}.")
    f["venue"] = venue_law
    return "\n\n".join(s), f


def _append_commercial_exhibits(rng: random.Random, s: list[str], f: dict, scope: str, eff: datetime) -> None:
    """Rate card, subprocessors, security questionnaire, statement of work and, for renewals, the usage history:
    the exhibits that make a real contract bundle run to tens of thousands of tokens."""
    kind = pick(rng, ["compact", "standard", "standard", "renewal"])
    rows = {"compact": rng.randrange(80, 130), "standard": rng.randrange(120, 220), "renewal": rng.randrange(180, 288)}[kind]
    card = make_rate_card(rng, scope, rows)
    f["rate_card"], f["kind"] = card, kind
    s.append("EXHIBIT F - RATE CARD\nPrices are in USD, exclude taxes and apply per calendar month. Tiers are graduated: each "
             "tier's price applies only to the units within that tier. Region is where the Services are delivered.\n"
             + "\n".join(rate_line(row) for row in card))
    subs = rng.sample(SUBPROCESSORS, k=rng.randrange(6, len(SUBPROCESSORS)))
    s.append("EXHIBIT G - SUBPROCESSORS\n" + "\n".join(f"G.{n} {name} - {what} - {where}" for n, (name, what, where) in enumerate(subs, start=1)))
    if kind != "compact":
        s.append("EXHIBIT H - SECURITY QUESTIONNAIRE RESPONSES (Provider's answers, incorporated by reference)\n"
                 + "\n".join(make_questionnaire(rng, rng.randrange(25, len(SECURITY_QUESTIONS) + 1))))
        s.append(make_sow(rng, scope, eff, f["fees"]))
    if kind == "renewal":
        months = [datetime(2026, 9, 1) - timedelta(days=31 * i) for i in range(12)][::-1]
        used = rng.sample(card, k=min(len(card), rng.randrange(40, 110)))
        lines = []
        for month in months:
            for row in used:
                qty = max(1, int(row["t1"] * rng.uniform(0.3, 30)))
                lines.append(f"{month:%Y-%m} | {row['sku']} | {qty:,} {row['unit']} | USD {tiered_cost(row, row['p'], qty):,.2f}")
        s.append("EXHIBIT K - USAGE HISTORY (attached by Provider to the renewal quote; billed at the Exhibit F prices in force)\n" + "\n".join(lines))
    f["amended"] = None
    if rng.random() < 0.5:
        row = pick(rng, card)
        factor = rng.uniform(0.78, 0.95) if rng.random() < 0.7 else rng.uniform(1.05, 1.15)
        new = [round(p * factor, 4 if p < 1 else 2) for p in row["p"]]
        f["amended"] = {"row": row, "p": new, "since": datetime(2026, rng.randrange(3, 9), 1)}


def contract_question(rng: random.Random, f: dict, asked: set) -> tuple[str, str]:
    options = [q for q in ("breach", "terminate", "renewal", "sla", "deletion", "law", "pricing", "pricing") if q not in asked]
    q = pick(rng, options)
    asked.add(q)
    them = f["cp"]
    if q == "pricing":
        return pricing_question(rng, f)
    if q == "breach":
        question = pick(rng, ["What's the most we could recover if they have a data breach? Check whether the liability sections agree.",
                              "Is there a conflict between the general liability cap and anything in the data protection sections?"])
        fees = f["fees"] * f["cap_months"] / 12
        if f["data_cap_conflict"]:
            cap_text = "no cap at all" if f["data_cap"] == "unlimited" else f["data_cap"]
            answer = (f"**Short answer:** for a breach caused by the Provider's failure to meet its security obligations, the general cap does not apply; Section 7.4 sets a separate limit of {cap_text}.\n\n"
                      f"**How the sections interact**\n- Section 9.2 caps each party's aggregate liability at the Fees paid or payable in the {f['cap_months']} months before the event (about USD {fees:,.0f} at the current USD {f['fees']:,} annual fee).\n"
                      f"- Section 7.4 opens with \"Notwithstanding Section 9.2\" and sets liability for Security Incidents caused by a breach of Section 7 or the DPA at {cap_text}. Because of that wording, 7.4 controls for those claims, so there is no real conflict, only a carve-out.\n"
                      f"- Section 9.3 separately removes the cap for breach of confidentiality (Section 6). Customer Data is Confidential Information under 6.1, so a breach could also be argued as an Excluded Claim with no cap; the Provider will argue 7.4 is the more specific provision.\n"
                      f"- Section 9.4 still excludes indirect and consequential damages (e.g. lost profits), which often make up much of the cost of a breach.\n\n"
                      f"**Gap to flag:** 7.4 only covers incidents caused by the Provider's breach of Section 7 or the DPA. A breach at a subprocessor (C.4) falls under 2.4, where the Provider stays responsible, but the agreement does not say which cap applies to it.")
        else:
            answer = (f"**Short answer:** about USD {fees:,.0f}. Nothing in the data protection sections changes the general cap, so there is no conflict, but the cap is low for a breach.\n\n"
                      f"- Section 9.2 caps aggregate liability at the Fees paid or payable in the {f['cap_months']} months before the event (USD {f['fees']:,} per year under Exhibit A).\n"
                      f"- Section 7 (7.1-7.4) and the DPA (Exhibit C) set security and notification duties (notice within {f['breach_notice_h']} hours under 7.3 and C.5) but no separate liability amount for Security Incidents.\n"
                      f"- The one route around the cap is Section 9.3: breach of confidentiality under Section 6 is an Excluded Claim, and Customer Data is Confidential Information under 6.1. Whether a Security Incident counts as a breach of Section 6 would be argued; the agreement does not settle it.\n"
                      f"- Section 9.4 excludes consequential damages and lost profits in any case.\n\n"
                      f"**Recommendation:** if the data is sensitive, negotiate a separate cap for data breaches (a 'super-cap', commonly 2-3x annual fees) in Section 9.")
    elif q == "terminate":
        question = pick(rng, ["How much notice do we need to give to terminate for convenience, and does anything else in the document say something different?",
                              "Can we walk away early without cause? What notice period applies?"])
        if f["order_tfc_days"] != f["tfc_days"]:
            answer = (f"**The document gives two different notice periods.**\n- Section 4.2 of the Agreement: Customer may terminate for convenience on **{f['tfc_days']} days'** written notice.\n"
                      f"- Exhibit A (Order Form No. 1), Special terms: \"Notwithstanding Section 4.2\", Customer may terminate the Order Form on **{f['order_tfc_days']} days'** notice.\n\n"
                      f"**Which one wins:** Section 16.6 puts the Agreement above the Order Form *unless* the Order Form expressly says it overrides a specific section. The special term names Section 4.2 and uses \"notwithstanding\", so the better reading is that **{f['order_tfc_days']} days** applies to Order Form No. 1, while {f['tfc_days']} days still applies to the Agreement as a whole and any later Order Forms.\n\n"
                      f"**Other points**\n- Prepaid Fees for the rest of the term are not refunded on termination for convenience (4.2); refunds only follow termination for cause (4.4).\n- Notice must be in writing under 16.3; notices to Halcyon are copied to legal@halcyonlabs.example.\n- Chronic SLA failure (5.3) gives a separate penalty-free exit.")
        else:
            answer = (f"**{f['tfc_days']} days' written notice** (Section 4.2), and nothing else in the document conflicts with it.\n\n"
                      f"- Exhibit A (Order Form No. 1) has no special terms that change 4.2.\n- Prepaid Fees for the remainder of the term are non-refundable on termination for convenience (4.2); only termination for cause under 4.3 triggers a refund (4.4).\n"
                      f"- Notice must be in writing and delivered as set out in 16.3.\n- Alternatives: termination for cause after a 30-day cure period (4.3), or penalty-free termination for chronic SLA failure, meaning three missed months in a rolling six (5.3).")
    elif q == "renewal":
        end = f["eff"].replace(year=f["eff"].year + f["term_years"])
        deadline = end - timedelta(days=f["renew_notice"])
        question = pick(rng, [f"The initial term ends on {end.strftime('%B %d, %Y')}. What's the last day we can send a non-renewal notice, and what happens to pricing if we miss it?",
                              "Walk me through renewal: when does it auto-renew, by when do we have to object, and can they raise prices?"])
        answer = (f"**Deadline:** the initial term is {f['term_years']} year(s) from {f['eff'].strftime('%B %d, %Y')} (4.1, Exhibit A), so it ends on {end.strftime('%B %d, %Y')}. Non-renewal notice is due at least {f['renew_notice']} days before that, so the last safe day is **{deadline.strftime('%B %d, %Y')}** (4.1).\n\n"
                  f"**If you miss it:** the Agreement renews for a 12-month term (4.1). You could still terminate for convenience on {f['order_tfc_days'] if f['order_tfc_days'] != f['tfc_days'] else f['tfc_days']} days' notice, but prepaid Fees for that renewal year are not refunded (4.2).\n\n"
                  f"**Pricing:** the Provider may raise Fees by up to 5% for a renewal term, with at least 90 days' notice before the renewal date (3.6). With a {f['renew_notice']}-day non-renewal window, "
                  + ("a price-increase notice arrives before your deadline, so you can decide with the new price known." if f["renew_notice"] < 90 else "the price notice and your non-renewal deadline fall on the same day, which leaves no time to react; ask for the price notice period to be longer than the renewal notice period."))
    elif q == "sla":
        if rng.random() < 0.5:
            question, uptime = "If uptime was 99.2% last month, what credit do we get, and can we also claim damages for the outage?", 99.2
            measured = "99.2%"
        else:
            question, uptime = "We had roughly 6 hours of downtime in September. What are we owed under the SLA?", 100 * (1 - 6 / (30 * 24))
            measured = "6 hours of downtime in a 30-day month is about 99.17% Monthly Uptime, assuming none of it was Scheduled Maintenance (B.2); so"
        commit = float(f["uptime"])
        if uptime >= commit:
            credit = f"{measured} meets the {f['uptime']}% commitment (Exhibit B, B.1), so **no credit is due**."
        elif uptime >= 99.0:
            credit = (f"{measured} is below the {f['uptime']}% commitment (Exhibit B, B.1) but at least 99.0%, so the credit is **{f['credit1']}% of the monthly Fees** (B.3), "
                      f"about USD {f['fees'] / 12 * f['credit1'] / 100:,.0f} at the current USD {f['fees']:,} annual fee.")
        else:
            credit = f"{measured} is below 99.0%, so the credit is **{f['credit2']}% of the monthly Fees** (B.3)."
        answer = (f"**Credit:** {credit} Credits are capped at {f['credit_cap']}% of monthly Fees (B.4) and must be requested within 30 days after the end of the month (B.5).\n\n"
                  + ("**Damages:** probably not. Section 5.2 makes service credits your \"sole and exclusive remedy\" for missing the service levels, so damages for the outage itself are excluded, and consequential losses are excluded anyway by 9.4. What remains is termination without penalty if availability misses the commitment in three months of any rolling six (5.3)."
                     if f["sole_remedy"] else "**Damages:** yes, in principle. Section 5.2 says credits are \"in addition to, and not in lieu of\" other remedies, so you can claim direct damages, subject to the cap in 9.2 and the exclusion of consequential losses in 9.4. Three missed months in any rolling six also allow termination without penalty (5.3)."))
    elif q == "deletion":
        question = pick(rng, ["How long can they keep our data after the contract ends? Make sure the main agreement and the DPA agree.",
                              "After termination, when does all our data have to be deleted?"])
        if f["dpa_delete_days"] != f["delete_days"]:
            answer = (f"**The main agreement and the DPA disagree.**\n- Section 4.5: 30-day export window after termination, then deletion within **{f['delete_days']} days** after that window ends, so up to {30 + f['delete_days']} days in total.\n"
                      f"- Exhibit C, C.8 (DPA): delete all Personal Data within **{f['dpa_delete_days']} days** of termination.\n\n"
                      f"**Which controls:** Section 16.6 ranks the DPA first, so for Personal Data the DPA's {f['dpa_delete_days']} days wins. "
                      + (f"That is *longer* than 4.5 allows ({30 + f['delete_days']} days), so the DPA gives the Provider more time, which is probably not what Halcyon intended. " if f["dpa_delete_days"] > 30 + f["delete_days"] else f"That is *shorter* than the {30 + f['delete_days']} days in 4.5, and it starts at termination, which leaves less time than 4.5's 30-day export window suggests; Personal Data could be deleted before the export window closes. ")
                      + "Customer Data that is not Personal Data (for example aggregated telemetry) still follows 4.5.\n\n**Suggest:** align C.8 and 4.5 in an amendment and require a deletion certificate (C.8 only gives one on request).")
        else:
            answer = (f"Both provisions agree. Section 4.5 gives a 30-day export window after termination and then requires deletion within {f['delete_days']} days; the DPA (Exhibit C, C.8) also says {f['dpa_delete_days']} days. "
                      f"Read together, data should be gone no later than {30 + f['delete_days']} days after termination, except where law requires retention (both sections). Ask for the deletion certificate available under C.8. De-identified aggregated statistics may be kept indefinitely under 8.4.")
    else:
        question = pick(rng, ["Which law governs this and where would a dispute be heard? Anything odd?", "If we had to sue, where, and under which law?"])
        if f["venue_conflict"]:
            answer = (f"- Governing law: {f['law'][0]} (16.1).\n- Venue: exclusive jurisdiction of the courts in {f['venue']} (16.2).\n\n"
                      f"**This is unusual:** the chosen courts sit outside the jurisdiction whose law governs the contract. It is enforceable, but the court would have to apply foreign law (for it), which adds cost and uncertainty. Most agreements pair the two. Nothing else (no arbitration clause) changes this. I'd raise it in the next amendment.")
        else:
            answer = (f"- Governing law: {f['law'][0]}, without its conflict-of-laws rules (16.1).\n- Venue: exclusive jurisdiction of the courts in {f['venue']} (16.2).\n\n"
                      "The two match, and there is no arbitration clause, so disputes go to those courts. Remember the notice requirements in 16.3 before starting anything.")
    return question, answer


def pricing_question(rng: random.Random, f: dict) -> tuple[str, str]:
    """A lookup deep in the rate card, overridden by the amendment at the very end when it names that SKU."""
    amended = f["amended"]
    row = amended["row"] if amended and rng.random() < 0.6 else pick(rng, f["rate_card"])
    qty = int(row["t2"] * rng.uniform(0.3, 2.5))
    is_amended = bool(amended) and amended["row"] is row
    prices = amended["p"] if is_amended else row["p"]
    cost = tiered_cost(row, prices, qty)
    question = pick(rng, [f"What would {qty:,} units of \"{row['item']}\" (priced per {row['unit']}) in {row['region']}, {row['term']}, cost us per month? Show the tier math.",
                          f"Finance wants a quick check: we expect {qty:,} units a month of \"{row['item']}\" ({row['unit']}, {row['region']}, {row['term']}). What's the monthly charge?"])
    first = min(qty, row["t1"])
    second = min(max(qty - row["t1"], 0), row["t2"] - row["t1"])
    third = max(qty - row["t2"], 0)
    math_lines = [f"- first {first:,} x USD {prices[0]:,} = USD {first * prices[0]:,.2f}"]
    if second:
        math_lines.append(f"- next {second:,} x USD {prices[1]:,} = USD {second * prices[1]:,.2f}")
    if third:
        math_lines.append(f"- remaining {third:,} x USD {prices[2]:,} = USD {third * prices[2]:,.2f}")
    source = (f"The line is F.{row['n']} (SKU {row['sku']}) in Exhibit F, **but Amendment No. 1** (at the end of the document) replaced its prices "
              f"from {amended['since'].strftime('%B %d, %Y')}: USD {row['p'][0]:,} / {row['p'][1]:,} / {row['p'][2]:,} became USD {prices[0]:,} / {prices[1]:,} / {prices[2]:,}. "
              "The amended prices apply."
              if is_amended else f"The line is F.{row['n']} (SKU {row['sku']}) in Exhibit F. No amendment changes it.")
    answer = (f"**About USD {cost:,.2f} per month**, before taxes (Exhibit F applies per calendar month and excludes taxes).\n\n{source}\n\n"
              f"Tiers are graduated (Exhibit F preamble), so each price applies only to the units in its tier:\n" + "\n".join(math_lines)
              + f"\n\nTotal: USD {cost:,.2f}.")
    return question, answer


SERVICES_INC = ["clip-upload API", "device gateway", "notification service", "auth service", "video transcoding pipeline", "billing service"]


CHANNEL_CHATTER = [
    "anyone else seeing timeouts from {svc} in eu?", "graphs attached, p99 is through the roof", "I'll take comms, updating the status page every 30 min",
    "support has {n} tickets so far", "can we get a read-only replica to look at connections?", "not the CDN, origin is returning the 5xx",
    "paging {who} for the database side", "rollback would take ~{n} min, starting prep in parallel", "customer success is asking for an ETA",
    "let's not restart everything at once, one AZ at a time", "cpu is fine, it's waiting on something", "ok that's interesting, look at the pool metrics",
    "reminder: log decisions in this channel please", "I can see retries stacking up from the mobile clients", "status page updated",
    "who approved the change? not blaming, just need context", "confirmed: only {svc} is affected", "queue depth still climbing, ~{n}k",
    "we should add this to the runbook afterwards", "{who}, can you check the config repo history for the last day?",
    "the canary region looks good so far", "dropping off for 5 min, {who} has the pager", "error budget for the month is gone after this",
    "heads up: the marketing email goes out at 17:00, may add load",
]


def make_incident(rng: random.Random) -> tuple[str, dict]:
    svc = pick(rng, SERVICES_INC)
    day = datetime(2026, pick(rng, [8, 9, 10]), rng.randrange(1, 28), rng.randrange(12, 20), rng.randrange(0, 60))
    cause = pick(rng, [("a database connection pool exhausted after a config change lowered max connections from 200 to 20", "config change"),
                       ("an expired intermediate TLS certificate on the internal load balancer", "certificate expiry"),
                       ("a deploy that shipped a feature flag default of 'on' for all regions instead of 5%", "bad deploy"),
                       ("a runaway retry loop in the mobile client that multiplied traffic by 6x after a 503", "retry storm"),
                       ("disk exhaustion on the Kafka brokers after log retention was set to 30 days", "disk full")])
    f = {"svc": svc, "cause": cause[0], "kind": cause[1], "start": day}
    first_alert = day + timedelta(minutes=rng.randrange(3, 12))
    reported_start = first_alert + timedelta(minutes=rng.randrange(8, 20))  # what the summary claims (planted mismatch)
    mitigated = day + timedelta(minutes=rng.randrange(70, 180))
    resolved = mitigated + timedelta(minutes=rng.randrange(30, 120))
    f.update(first_alert=first_alert, summary_start=reported_start, mitigated=mitigated, resolved=resolved,
             summary_mismatch=rng.random() < 0.7, lost_clips=rng.random() < 0.5, affected=rng.randrange(4, 38) * 1000,
             severity=pick(rng, ["SEV1", "SEV2"]))
    people = [" ".join(person(rng)) for _ in range(5)]
    f["ic"] = people[0]
    claimed = f["summary_start"] if f["summary_mismatch"] else f["start"]
    tl = []
    t = day - timedelta(minutes=rng.randrange(20, 90))
    tl.append((t, f"{people[1]} merges change #{rng.randrange(8000, 9999)} ({cause[1]} is later traced to this change)"))
    tl.append((day, f"error rate on {svc} starts climbing (from dashboards, reconstructed after the fact)"))
    tl.append((first_alert, f"PagerDuty alert: {svc} 5xx rate > 2% for 5 minutes; {people[2]} (on-call) acknowledges"))
    cursor = first_alert
    chatter = [f"{people[2]} checks recent deploys, nothing obvious in the last hour", f"support reports first customer tickets about {svc.split()[0]} failures",
               f"{people[2]} escalates to {f['severity']} and pages incident commander {people[0]}", f"{people[0]} opens the incident channel and status page draft",
               f"{people[3]} joins from the {svc} team", "status page updated: 'Investigating elevated errors'",
               f"{people[3]} sees saturation on the {svc} database connections", "rollback of the last deploy started as a precaution",
               "rollback completed, no improvement in error rate", f"{people[4]} notices the {cause[1]} in the change log",
               "fix prepared and reviewed", "fix deployed to one region as a canary", "canary healthy, error rate back under 0.5% in that region",
               "fix rolled out to all regions", "status page updated: 'Monitoring'", "backlog of queued requests draining",
               "support confirms new tickets have stopped", "error rate at baseline for 30 minutes"]
    step = (mitigated - first_alert) / (len(chatter) - 3)
    for i, line in enumerate(chatter):
        cursor = first_alert + step * (i + 1) if i < len(chatter) - 3 else mitigated + (resolved - mitigated) * (i - len(chatter) + 4) / 3
        tl.append((cursor, line))
    if f["lost_clips"]:
        tl.append((mitigated + timedelta(minutes=7), f"{people[3]}: upload queue overflowed during the incident, roughly {rng.randrange(2, 9) * 1000} clips from battery cameras were dropped and cannot be recovered"))
    tl.append((resolved, f"incident resolved by {people[0]}; status page updated: 'Resolved'"))
    tl.sort()
    fmt = lambda d: d.strftime("%H:%M")
    text = [f"INCIDENT REPORT - {f['severity']} - {svc} outage on {day.strftime('%Y-%m-%d')}",
            f"Status: final. Author: {people[0]} (incident commander). Reviewers: {people[3]}, {people[4]}.", "",
            "1. SUMMARY",
            f"Between {fmt(claimed)} and {fmt(mitigated)} UTC on {MONTHS[day.month - 1]} {day.day}, the {svc} returned errors for about {f['affected']:,} customers. "
            f"The cause was {cause[0]}. " + ("No customer data was lost." if f["lost_clips"] else "Queued requests were processed after recovery and no data was lost.")
            + f" The incident was fully resolved at {fmt(resolved)} UTC.", "",
            "2. CUSTOMER IMPACT",
            f"- About {f['affected']:,} accounts saw failures in the app: live view and clip history failed to load, and some notifications were delayed.",
            f"- Support received {rng.randrange(60, 400)} tickets tagged with the incident.",
            f"- Duration of customer impact: {int((mitigated - claimed).total_seconds() // 60)} minutes.", "",
            "3. TIMELINE (UTC)"]
    text += [f"{fmt(ts)}  {line}" for ts, line in tl]
    text += ["", "4. ROOT CAUSE",
             f"The direct cause was {cause[0]}. The change passed review because the diff looked like routine tuning and our staging environment does not run at production load. "
             f"When {svc} began failing, clients retried without jitter, which roughly tripled request volume and made the failure look like a capacity problem, which sent the first 40 minutes of investigation in the wrong direction.", "",
             "5. CONTRIBUTING FACTORS",
             "- The alert fired on 5xx rate only after five minutes above threshold; a latency alert would have fired earlier.",
             "- The rollback restored the previous application build but not the configuration, because configuration is deployed separately.",
             "- The runbook for the service still referenced the old dashboard names.",
             f"- The change author was on the {pick(rng, TEAMS)} team and not familiar with this service's limits.", "",
             "6. WHAT WENT WELL",
             "- Support flagged the customer impact within minutes and kept the status page accurate.",
             "- The canary deploy of the fix caught no regressions and shortened the full rollout.", "",
             "7. ACTION ITEMS",
             f"- [{people[3]}] Add configuration to the same deploy pipeline as code, so rollbacks include it (root cause). Due in 2 weeks.",
             f"- [{people[2]}] Add a p95 latency alert for {svc} (detection). Due in 1 week.",
             f"- [{people[4]}] Add jittered exponential backoff to the client SDK retries (contributing). Due in 4 weeks.",
             f"- [{people[1]}] Update the runbook and dashboard links (contributing). Due in 1 week.",
             f"- [{people[0]}] Load-test configuration changes in staging with production-like traffic (root cause). Due next quarter.", "",
             "APPENDIX A - METRICS (one row per minute, from the service dashboard export)",
             "time   5xx_rate  p50_ms  p95_ms  p99_ms    rps  db_conn_in_use  queue_depth"]
    cur = day - timedelta(minutes=30)
    while cur <= resolved + timedelta(minutes=20):
        base = 0 if cur < day else (1 if cur < mitigated else 0.2 if cur < resolved else 0)
        noise = rng.uniform(0.9, 1.1)
        text.append(f"{fmt(cur)}  {max(0.1, base * rng.uniform(8, 35)):7.1f}%  {int(42 * noise + base * rng.uniform(200, 900)):>6}"
                    f"  {int(180 * noise + base * rng.uniform(900, 4000)):>6}  {int(420 * noise + base * rng.uniform(2000, 9000)):>6}"
                    f"  {int(2400 * noise * (1 + base * rng.uniform(1.5, 2.5))):>5}  {int(min(200, 60 * noise + base * 140)):>14}  {int(base * rng.uniform(1000, 48000)):>11}")
        cur += timedelta(minutes=1)
    text += ["", "APPENDIX B - LOG EXCERPTS (service logs, UTC)"]
    errors = {"config change": ["psycopg2.pool.PoolError: connection pool exhausted", "timeout acquiring connection after 5000ms (pool size 20, in use 20)"],
              "certificate expiry": ["x509: certificate has expired or is not yet valid", "upstream connect error or disconnect/reset before headers. reset reason: TLS error"],
              "bad deploy": ["feature flag 'clips_v2_ranking' evaluated true for 100% of requests", "KeyError: 'ranking_model' in clips_v2.rank()"],
              "retry storm": ["429 Too Many Requests: rate limit exceeded for client mobile/6.12.0", "queue depth 48211 exceeds high watermark 20000"],
              "disk full": ["kafka.log: No space left on device (errno 28) writing segment 000000000187", "producer timeout after 30000ms: NOT_ENOUGH_REPLICAS"]}[cause[1]]
    cur = day
    while cur < mitigated:
        level = "ERROR" if rng.random() < 0.7 else "WARN"
        host = f"{svc.split()[0].replace('-', '')}-{pick(rng, ['a', 'b', 'c'])}{rng.randrange(1, 9)}"
        text.append(f"{cur.strftime('%H:%M:%S')}.{rng.randrange(1000):03d} {level:<5} {host} req={rand_str(rng, 12, '0123456789abcdef')} {pick(rng, errors)}")
        cur += timedelta(seconds=rng.randrange(4, 40))
    text += ["", "APPENDIX C - INCIDENT CHANNEL (abridged)"]
    lines_c = [f"{people[2]}: ack, looking", f"{people[2]}: 5xx on {svc}, nothing deployed in the last hour on our side",
               f"{people[0]}: I'm IC. {people[3]}, can you join?", f"{people[3]}: here. dashboards show saturation, not traffic growth",
               f"{people[4]}: customers on the status page thread are reporting failures since about {fmt(day + timedelta(minutes=2))}",
               f"{people[0]}: let's roll back the last deploy to rule it out", f"{people[3]}: rollback done, no change",
               f"{people[4]}: found it - {cause[1]} in change #{rng.randrange(8000, 9999)}, merged at {fmt(tl[0][0])}",
               f"{people[0]}: ok, prepare the revert, canary first", f"{people[3]}: canary green", f"{people[0]}: roll it everywhere",
               f"{people[2]}: error rate back to baseline", f"{people[0]}: moving to monitoring, I'll write this up"]
    for _ in range(rng.randrange(10, 40)):  # the chatter between the turning points
        at = rng.randrange(2, len(lines_c) - 2)
        lines_c.insert(at, f"{pick(rng, people)}: " + pick(rng, CHANNEL_CHATTER).format(svc=svc, n=rng.randrange(2, 60), who=pick(rng, people)))
    cur = first_alert
    for line in lines_c:
        text.append(f"[{fmt(cur)}] {line}")
        cur = min(resolved, cur + (mitigated - first_alert) / len(lines_c))
    text += ["", "APPENDIX D - DEPLOY HISTORY (all services, 14 days before the incident, from the CD system)"]
    deploys = sorted(day - timedelta(minutes=rng.randrange(60, 14 * 24 * 60)) for _ in range(rng.randrange(25, 90)))
    for at in deploys:
        text.append(f"{at:%Y-%m-%d %H:%M}  {pick(rng, SERVICES_INC):<26} build {rng.randrange(1000, 9999)}  {rand_str(rng, 8, '0123456789abcdef')}  "
                    f"by {pick(rng, people)}  {pick(rng, ['ok', 'ok', 'ok', 'ok', 'rolled back', 'canary only'])}")
    return "\n".join(text), f


def incident_question(rng: random.Random, f: dict, asked: set) -> tuple[str, str]:
    options = [q for q in ("start", "actions", "data") if q not in asked]
    q = pick(rng, options)
    asked.add(q)
    fmt = lambda d: d.strftime("%H:%M")
    if q == "start":
        question = pick(rng, ["When did customer impact actually start, and how long did it last? Does the summary match the timeline?",
                              "I need accurate numbers for the board: start of impact, time to detect, time to mitigate."])
        start_real = f["start"]
        answer = (f"**From the timeline (section 3):**\n- Errors began at **{fmt(start_real)} UTC** (the reconstructed entry at {fmt(start_real)}).\n"
                  f"- First alert at {fmt(f['first_alert'])}: time to detect ≈ {int((f['first_alert'] - start_real).total_seconds() // 60)} minutes.\n"
                  f"- Mitigated at {fmt(f['mitigated'])} (fix live in all regions, status page moved to 'Monitoring'): time to mitigate ≈ {int((f['mitigated'] - start_real).total_seconds() // 60)} minutes from the start of impact.\n"
                  f"- Resolved at {fmt(f['resolved'])}.\n\n"
                  + (f"**The summary does not match.** Section 1 says impact started at {fmt(f['summary_start'])} and section 2 gives {int((f['mitigated'] - f['summary_start']).total_seconds() // 60)} minutes of impact, but the timeline and Appendix A show errors from {fmt(start_real)}, "
                     f"{int((f['summary_start'] - start_real).total_seconds() // 60)} minutes earlier. The summary appears to use the time support noticed the problem rather than when it began. Use {int((f['mitigated'] - start_real).total_seconds() // 60)} minutes for the board."
                     if f["summary_mismatch"] else f"The summary (section 1) and impact section agree with the timeline: {int((f['mitigated'] - start_real).total_seconds() // 60)} minutes of impact."))
    elif q == "actions":
        question = pick(rng, ["Which action items actually fix the root cause, and which only address symptoms? Anything missing?",
                              "Review the action items: are they enough to stop this happening again?"])
        answer = ("**Root cause** (section 4: " + f["cause"] + "; and a rollback that did not include config):\n"
                  "- Config in the same deploy pipeline as code, so rollbacks include it: addresses the failed rollback at the heart of the prolonged outage.\n"
                  "- Load-testing configuration changes in staging: addresses how the change got through review, but 'next quarter' is slow for a root-cause item.\n\n"
                  "**Detection and contributing factors:**\n- p95 latency alert: faster detection only.\n- Jittered backoff in the client SDK: removes the retry amplification that confused the diagnosis.\n- Runbook and dashboard update: hygiene.\n\n"
                  "**Missing:**\n- No item for reviewing changes to this service's limits (for example a CODEOWNERS rule), although section 5 names the author's unfamiliarity as a factor.\n"
                  + ("- No item for the dropped clips recorded in the timeline: the upload queue overflow needs its own fix (bounded queue with back-pressure or on-device buffering).\n" if f["lost_clips"] else "")
                  + "- No owner for customer communication follow-up.")
    else:
        question = pick(rng, ["Was any customer data lost? The summary says no.", "Can we tell customers no data was lost?"])
        if f["lost_clips"]:
            answer = ("**No, you can't say that.** Section 1 states \"No customer data was lost\", but the timeline entry after mitigation records that the upload queue overflowed and clips from battery cameras were dropped and cannot be recovered. "
                      "Those clips are customer data. The summary needs correcting before anything goes to customers, and affected accounts may need to be notified under your customer terms; check with legal. "
                      "Also note that no action item addresses the queue overflow.")
        else:
            answer = ("As far as the report shows, yes. Section 1 says queued requests were processed after recovery and no data was lost, and nothing in the timeline or Appendix A contradicts this. "
                      "The timeline shows the backlog of queued requests draining after the fix. To be safe, confirm the queue never hit its retention limit during the incident.")
    return question, answer


def _doc_session(rng: random.Random, session_start: datetime, doc: str, facts: dict, ask, header: str, user: str,
                 gaps: tuple[int, int], kinds: int) -> list[Call]:
    """One person's questions about one document, asked one after another, each sent with the whole document in
    front of the question (a cacheable prefix)."""
    block = f"<document title=\"{header}\">\n{doc}\n</document>"
    calls, asked, when = [], set(), session_start
    for _ in range(min(kinds, rng.choices([1, 2, 3, 4], weights=[3, 4, 3, 2])[0])):  # one question of each kind at most
        question, answer = ask(rng, facts, asked)
        calls.append(Call("long_document_reasoning", when, LONGDOC_SYSTEM, [{"role": "user", "content": question}], answer,
                          {"temperature": 0, "max_tokens": 4096}, cache_prefix=block, user=user))
        when = when + timedelta(seconds=rng.randrange(*gaps))  # reading the answer; past 5 minutes the cache is cold
    return calls


def contract_session(rng: random.Random, session_start: datetime) -> list[Call]:
    doc, facts = make_contract(rng)
    return _doc_session(rng, session_start, doc, facts, contract_question, f"Master Services Agreement with {facts['cp']}",
                        "legal-ops", (50, 480), kinds=7)


def incident_session(rng: random.Random, session_start: datetime) -> list[Call]:
    doc, facts = make_incident(rng)
    return _doc_session(rng, session_start, doc, facts, incident_question, f"Incident report: {facts['svc']} outage",
                        "sre-postmortems", (40, 360), kinds=3)


# --------------------------------------------------------------------------------------------------
# Workload: code review of proprietary code that contains secrets and personal data (Anthropic, Sonnet 4)
# --------------------------------------------------------------------------------------------------

REVIEW_SYSTEM = ("You are a meticulous senior engineer reviewing code at Halcyon Labs. Review the change for bugs, "
                 "security problems and maintainability. Reply with a numbered list of findings, most severe first, "
                 "each with the file and line, why it matters and a concrete fix, then a one-line verdict: "
                 "APPROVE, APPROVE WITH NITS or REQUEST CHANGES.\n\n"
                 "## Review checklist (Halcyon engineering handbook, section 7)\n"
                 "Security, always first:\n"
                 "- Secrets: credentials, API keys, tokens, connection strings with passwords, private keys or JWT "
                 "signing secrets in code, config, fixtures, compose files or CI files. Say which value it is (name the "
                 "variable, never repeat the whole secret), that it must be rotated, and where it should come from "
                 "(instance role, secrets manager, environment).\n"
                 "- Injection: SQL, shell or template strings built from input; eval/exec; unsafe deserialisation.\n"
                 "- Personal data: customer emails, phone numbers, addresses or card data in code, fixtures, logs or "
                 "test assertions. Fixtures must use obviously fake data (example.com, 555 numbers, test card numbers).\n"
                 "- Exposure: services bound to 0.0.0.0, databases published on host ports, DEBUG in production, "
                 "wildcard ALLOWED_HOSTS or CORS, cookies without Secure/HttpOnly, staging reaching production.\n"
                 "- Network calls without timeouts, retries without backoff, unchecked responses.\n"
                 "Correctness: off-by-one errors in pagination and ranges, time zones, integer/decimal money handling, "
                 "resource leaks (connections opened at import time, files not closed), error handling that swallows "
                 "failures, code that cannot run (undefined names).\n"
                 "Maintainability: naming, dead code, duplicated logic, missing tests for new behaviour. Keep nits "
                 "short and put them last; do not list more than two nits.\n\n"
                 "## Severity\n"
                 "A finding that leaks a secret or personal data, or lets an attacker in, is always first and always "
                 "means REQUEST CHANGES. Correctness bugs that lose data or money also mean REQUEST CHANGES. "
                 "Maintainability findings alone mean APPROVE WITH NITS. A change with no findings is APPROVE.\n\n"
                 "## Format\n"
                 "Numbered findings, each starting with a bold title, then the file and line(s) in parentheses as "
                 "they appear in the diff (line 1 is the first line of the file shown), then why it matters and the "
                 "fix in one or two sentences. Code in backticks. No praise, no summary of what the change does, no "
                 "headings. End with the verdict on its own line in bold: **Verdict: ...**. Context files are for "
                 "reference only: review the change, and mention context only where the change breaks it.")
B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def aws_key_id(rng: random.Random) -> str:
    # Real AWS key ids are AKIA + 16 base32 characters. These end in EXAMPLE, AWS's own convention for
    # documentation keys, so no secret scanner mistakes the sample data for a leaked credential.
    return "AKIA" + rand_str(rng, 9, B32) + "EXAMPLE"


def aws_secret(rng: random.Random) -> str:
    return rand_str(rng, 30, string.ascii_letters + string.digits + "/+") + "EXAMPLEKEY"


def line_of(code: str, marker: str) -> int:
    """1-based line of the first line containing *marker*: reviews cite real line numbers."""
    for n, line in enumerate(code.splitlines(), start=1):
        if marker in line:
            return n
    raise ValueError(marker)


def lines_of(code: str, *markers: str) -> str:
    nums = sorted(line_of(code, m) for m in markers)
    return f"line {nums[0]}" if len(nums) == 1 else (f"lines {nums[0]}-{nums[-1]}" if nums[-1] - nums[0] == len(nums) - 1 else "lines " + ", ".join(map(str, nums)))


TEST_CARDS = ["4111 1111 1111 1111", "5555555555554444", "4242 4242 4242 4242", "378282246310005", "6011111111111117"]


def _review_settings(rng, ctx):
    code = f'''# halcyon/{ctx["svc"]}/settings.py
import os

DEBUG = {pick(rng, ["True", "os.getenv('DEBUG', 'true') == 'true'"])}
ALLOWED_HOSTS = ["*"]

DATABASE_URL = "postgresql://{ctx["db_user"]}:{ctx["db_pass"]}@{ctx["db_host"]}:5432/{ctx["db_name"]}"
REDIS_URL = os.getenv("REDIS_URL", "redis://10.20.{rng.randrange(0, 255)}.{rng.randrange(2, 250)}:6379/0")

AWS_ACCESS_KEY_ID = "{ctx["akid"]}"
AWS_SECRET_ACCESS_KEY = "{ctx["secret"]}"
CLIP_BUCKET = "halcyon-clips-prod-{ctx["region"]}"

SUPPORT_ESCALATION_EMAIL = "{ctx["email"]}"
PAGER_FALLBACK_PHONE = "{ctx["phone"]}"

SESSION_COOKIE_SECURE = False
'''
    findings = [
        f"**Hard-coded AWS credentials** (`settings.py`, {lines_of(code, 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY')}). `{ctx['akid'][:8]}…` and its secret are committed in plain text. Anyone with repo access (and every CI log that prints settings) has write access to `halcyon-clips-prod-{ctx['region']}`. Rotate the key now, then read credentials from the instance role or `os.environ`; never from source.",
        f"**Database password in the connection string** ({lines_of(code, 'DATABASE_URL')}). `{ctx['db_user']}`'s password for `{ctx['db_host']}` is in the repo. Move `DATABASE_URL` to the secrets manager and rotate the password.",
        f"**DEBUG and ALLOWED_HOSTS** ({lines_of(code, 'DEBUG =', 'ALLOWED_HOSTS')}). `DEBUG` on in production leaks stack traces with settings values; `ALLOWED_HOSTS = ['*']` allows Host-header attacks. Default DEBUG to off and list the real hostnames.",
        f"**SESSION_COOKIE_SECURE = False** ({lines_of(code, 'SESSION_COOKIE_SECURE')}): session cookies can travel over plain HTTP. Set it to True (and CSRF_COOKIE_SECURE too).",
        f"**Personal contact details in code** ({lines_of(code, 'SUPPORT_ESCALATION_EMAIL', 'PAGER_FALLBACK_PHONE')}): an individual's email and phone number in settings will go stale and expose a person's details; use the on-call alias from config instead.",
    ]
    return code, findings, "REQUEST CHANGES"


def _review_etl(rng, ctx):
    code = f'''# jobs/export_churn_candidates.py
import psycopg2
import requests

CONN = psycopg2.connect(host="{ctx["db_host"]}", user="{ctx["db_user"]}", password="{ctx["db_pass"]}", dbname="{ctx["db_name"]}")
CRM_TOKEN = "{ctx["token"]}"


def export(segment, min_days=30):
    cur = CONN.cursor()
    cur.execute(f"SELECT customer_id, email, phone FROM customers WHERE segment = '{{segment}}' AND last_seen < now() - interval '{{min_days}} days'")
    for customer_id, email, phone in cur.fetchall():
        requests.post("https://crm.internal.halcyonlabs.example/api/contacts",
                      json={{"id": customer_id, "email": email, "phone": phone, "list": "winback"}},
                      headers={{"Authorization": f"Bearer {{CRM_TOKEN}}"}})
        print("exported", email, phone)


if __name__ == "__main__":
    # smoke test with the account from ticket #{rng.randrange(400000, 499999)}
    export("consumer")
    assert lookup("{ctx["email"]}")["phone"] == "{ctx["phone"]}"
'''
    findings = [
        f"**SQL injection** ({lines_of(code, 'cur.execute')}): `segment` and `min_days` are interpolated into the query with an f-string. Use parameters: `cur.execute('... WHERE segment = %s AND last_seen < now() - %s * interval \\'1 day\\'', (segment, min_days))`.",
        f"**Credentials in source** ({lines_of(code, 'CONN = ', 'CRM_TOKEN = ')}): the database password for `{ctx['db_user']}` and the CRM bearer token are committed. Rotate both and load them from the environment or the secrets manager.",
        f"**Customer PII written to stdout** ({lines_of(code, 'print(')}): every exported email and phone number lands in the job logs, which are retained and widely readable. Log counts, not contacts.",
        f"**No timeout or error handling on `requests.post`** ({lines_of(code, 'requests.post')}): one slow CRM call hangs the job forever and failures are silently ignored. Add `timeout=10`, check `raise_for_status()`, and batch the contacts.",
        f"**Real customer data in a test** ({lines_of(code, 'assert lookup')}): a specific customer's email and phone are hard-coded, and `lookup` is not defined, so the smoke test crashes. Use a fixture with fake data.",
        f"**Connection opened at import time** ({lines_of(code, 'CONN = ')}): importing the module connects to the database. Open the connection inside `export` with a context manager.",
    ]
    return code, findings, "REQUEST CHANGES"


def _review_fixture(rng, ctx):
    card = pick(rng, TEST_CARDS)
    code = f'''// billing/test/fixtures/customers.ts
export const customers = [
  {{
    id: "cus_{rand_str(rng, 14)}",
    name: "{ctx["name"]}",
    email: "{ctx["email"]}",
    phone: "{ctx["phone"]}",
    card: {{ number: "{card}", expMonth: 12, expYear: 2029, cvc: "{rng.randrange(100, 999)}" }},
    address: "{rng.randrange(10, 999)} {pick(rng, STREETS)}, {pick(rng, CITIES)[0]}",
  }},
];

export const gatewayConfig = {{
  endpoint: "https://payments.internal.halcyonlabs.example/v2",
  apiKey: process.env.GATEWAY_KEY ?? "{ctx["token"]}",
  timeoutMs: 0,
}};

export function maskCard(n: string): string {{
  return n.slice(0, 4) + "********" + n.slice(-4);
}}
'''
    findings = [
        f"**Fallback API key in source** ({lines_of(code, 'apiKey')}): `process.env.GATEWAY_KEY ?? \"…\"` means a missing env var silently uses a real-looking key that is now in git history. Remove the fallback and fail fast when the variable is unset; rotate the key if it was ever valid.",
        f"**Looks like real personal data in fixtures** ({lines_of(code, 'name:', 'email:', 'phone:', 'address:')}): the name, email, phone and street address should be obviously fake (e.g. `@example.com`, 555 numbers). If this is copied from production, it must be removed from history.",
        f"**Card number** ({lines_of(code, 'card:')}): `{card}` is a standard test number, which is fine, but keep fixtures to test numbers only and never add a CVC; PCI scanners will flag any PAN+CVC pair.",
        f"**`timeoutMs: 0`** ({lines_of(code, 'timeoutMs')}) disables the timeout in most HTTP clients. Use a finite value.",
        f"**`maskCard` leaks too much for some card lengths** ({lines_of(code, 'n.slice(0, 4)')}): showing the first 4 and last 4 of a 15-digit Amex leaves 7 hidden digits; show the last 4 only.",
    ]
    return code, findings, "REQUEST CHANGES"


def _review_compose(rng, ctx):
    code = f'''# deploy/docker-compose.staging.yml
services:
  api:
    image: registry.halcyonlabs.example/{ctx["svc"]}:{rng.randrange(100, 999)}
    environment:
      DATABASE_URL: postgres://{ctx["db_user"]}:{ctx["db_pass"]}@{ctx["db_host"]}:5432/{ctx["db_name"]}
      AWS_ACCESS_KEY_ID: {ctx["akid"]}
      AWS_SECRET_ACCESS_KEY: {ctx["secret"]}
      JWT_SECRET: {rand_str(rng, 32)}
    ports:
      - "0.0.0.0:8080:8080"
  db:
    image: postgres:16
    environment:
      POSTGRES_PASSWORD: {ctx["db_pass"]}
    ports:
      - "5432:5432"
'''
    findings = [
        f"**Secrets committed in the compose file** ({lines_of(code, 'DATABASE_URL', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'JWT_SECRET', 'POSTGRES_PASSWORD')}): AWS keys, the database password and the JWT signing secret are in plain text. Use an `.env` file that is git-ignored or Docker secrets, and rotate all four values; the JWT secret lets anyone mint valid sessions.",
        f"**Postgres exposed on all interfaces** ({lines_of(code, '5432:5432')}): `5432:5432` publishes the database to the host network. Drop the port mapping or bind to 127.0.0.1.",
        (f"**Staging points at `{ctx['db_host']}`** ({lines_of(code, 'DATABASE_URL')}): the hostname says prod. A staging stack must never hold production credentials or reach the production database; give staging its own database and user."
         if "prod" in ctx["db_host"] else f"**Hard-coded database address** ({lines_of(code, 'DATABASE_URL')}): `{ctx['db_host']}` is a fixed private IP; use the service name or an environment variable so the file works outside this one network."),
        "**No healthchecks or `depends_on` conditions**: the API can start before Postgres accepts connections.",
    ]
    return code, findings, "REQUEST CHANGES"


def _review_clean(rng, ctx):
    code = f'''# halcyon/{ctx["svc"]}/pagination.py
from dataclasses import dataclass


@dataclass
class Page:
    items: list
    next_cursor: str | None


def paginate(query, cursor: str | None, limit: int = 50) -> Page:
    limit = max(1, min(limit, 200))
    if cursor:
        query = query.filter(id__gt=int(cursor))
    rows = list(query.order_by("id")[: limit])
    next_cursor = str(rows[-1].id) if len(rows) == limit else None
    return Page(items=rows, next_cursor=next_cursor)
'''
    findings = [
        f"**Extra query on the last page** ({lines_of(code, 'next_cursor = ')}): when exactly `limit` rows remain, `next_cursor` is set and the client makes one more request that returns nothing. Fetch `limit + 1` rows and use the extra one to decide whether there is a next page.",
        f"**Cursor is a raw id** ({lines_of(code, 'int(cursor)')}): `int(cursor)` raises ValueError on bad input (a 500 instead of a 400) and exposes sequential ids. Validate it, and consider an opaque, signed cursor.",
        "Nit: `rows[: limit]` has a stray space; the formatter will fix it.",
    ]
    return code, findings, "APPROVE WITH NITS"


REVIEW_TEMPLATES = [_review_settings, _review_etl, _review_fixture, _review_compose, _review_clean]


def review_call(rng, when) -> Call:
    first, last = person(rng)
    ctx = {"svc": pick(rng, ["device_gateway", "billing", "clips", "notifications", "auth"]),
           "db_user": pick(rng, ["app_rw", "etl_user", "svc_billing", "analytics"]),
           "db_pass": pick(rng, ["Halcyon2026!", "s3cr3t-Prod-", "pg_", "Winter#"]) + rand_str(rng, 6),
           "db_host": pick(rng, ["db-prod-3.internal.halcyonlabs.example", "pg-main.prod.halcyonlabs.example", "10.20.4.17", "billing-db.us-east-1.rds.halcyonlabs.example"]),
           "db_name": pick(rng, ["halcyon", "billing", "clips", "core"]), "akid": aws_key_id(rng), "secret": aws_secret(rng),
           "region": pick(rng, ["us-east-1", "eu-west-1"]), "email": email_for(rng, first, last, "halcyonlabs.example" if rng.random() < 0.5 else None),
           "phone": phone_for(rng), "name": f"{first} {last}", "token": "hcy_live_" + rand_str(rng, 28)}
    make = pick(rng, REVIEW_TEMPLATES)
    if make is _review_fixture:
        ctx["svc"] = "billing"
    elif make is _review_etl:
        ctx["svc"] = "data-jobs"
    code, findings, verdict = make(rng, ctx)
    lang = "typescript" if "fixtures" in code[:60] else ("yaml" if "compose" in code[:60] else "python")
    prompt = pick(rng, ["Please review this before I merge:", "Review this PR diff, it's going out today.", f"Can you review my change for {ctx['svc']}?",
                        "Quick review please - anything dangerous here?"]) + f"\n\n```{lang}\n{code}```"
    if rng.random() < 0.3:
        prompt += "\n" + pick(rng, ["CI is green.", f"Author: {first} {last}", "This is blocking the release.", "Ignore the formatting, will run black."])
    if lang == "python" and rng.random() < 0.8:  # the review bot attaches the modules the change imports or is imported by
        for n in range(rng.randrange(1, 5)):
            funcs = rng.sample(CODE_TASKS, k=rng.randrange(2, 6))
            body = "\n\n".join(code.format(**{k: v[-1] for k, v in opts.items()}) for _, code, _, opts in funcs)
            prompt += f"\n\nContext file {n + 1}: `halcyon/{ctx['svc']}/{pick(rng, ['utils', 'helpers', 'models', 'tasks', 'views'])}.py` (unchanged)\n```python\n{body}\n```"
    n = len(findings) if rng.random() < 0.7 else max(2, len(findings) - 1)
    answer = "\n\n".join(f"{i}. {text}" for i, text in enumerate(findings[:n], start=1)) + f"\n\n**Verdict: {verdict}**"
    return Call("code_review", when, REVIEW_SYSTEM, [{"role": "user", "content": prompt}], answer,
                {"temperature": 0.2, "max_tokens": 2000}, user=f"gh-bot-{ctx['svc']}")


# --------------------------------------------------------------------------------------------------
# Workload: ambiguous instructions to the internal assistant (the good answer is a clarifying question)
# --------------------------------------------------------------------------------------------------

ASSISTANT_SYSTEM = ("You are Atlas, Halcyon Labs' internal assistant. You help employees with writing, data and "
                    "engineering questions. You do not have access to email, Slack, tickets or previous "
                    "conversations unless they are pasted in. If a request is ambiguous, ask a short clarifying "
                    "question instead of guessing.\n\n"
                    "Context about Halcyon: about 900 employees across New York (HQ), Austin and a remote team in Europe. "
                    "Teams: Platform, Mobile, Firmware, Support Ops, Growth, Data, Payments, Security, Legal, Finance and "
                    "People. Products: Thermostat T3, Cam Indoor, Cam Outdoor 2K, Doorbell Pro, Hub, sensors and the "
                    "Halcyon Protect subscription (Basic, Plus, Pro). Fiscal year = calendar year.\n"
                    "How to answer: be brief and concrete. Use bullet points for options, code blocks for code and "
                    "tables only when comparing more than two things. When you rewrite text, return the rewritten text "
                    "first and explain changes only if asked. Never claim to have sent, saved, scheduled or looked up "
                    "anything: you cannot. Do not make up numbers, names, dates, ticket ids or links; ask for them.\n"
                    "Confidential data: employees may paste customer data to get help. Use it only for the task, do not "
                    "repeat it unnecessarily, and remind the user not to paste payment card numbers or passwords.\n"
                    "Clarifying questions: ask one short question (two at most) that unblocks the task, and offer the "
                    "likely options so the user can answer in a word. Do not ask for things the request already says.")
DRAFTS = [
    "Hi all, the Q3 numbers are in. Revenue was up, churn was down a bit and we shipped the doorbell. Thanks everyone for the hard work, more details next week.",
    "Our new Protect Plus plan gives you 30 days of video history, smart alerts and priority support for just $9.99 a month.",
    "Heads up: the staging database will be down Saturday morning for the upgrade. Let me know if that's a problem.",
    "We are pleased to inform you that your request has been processed and the refund will be reflected in your account in due course.",
]
AMBIGUOUS = [
    ("fix the thing from yesterday", None,
     "I don't have access to yesterday's conversations or your tickets, so I'm not sure which thing you mean. Could you paste the error message, the ticket link or the code you were working on? If it's the failing build, the CI log is the most useful thing to share."),
    ("make it better", "draft",
     "Happy to. Better in which way? For example:\n- shorter and punchier\n- more formal for an external audience\n- more concrete (numbers, dates, names)\n\nWho is it for, and where will it be posted? That will decide the tone."),
    ("can you redo the numbers like last time", None,
     "I don't have a record of last time, so I can't see which numbers or method you mean. Could you paste the table or spreadsheet and tell me what changed? For example, which month, which metric, and whether it should be compared with the previous period."),
    ("same as before but for the other client", None,
     "I don't have the earlier request or know which clients you're working with. Can you paste what you had before and tell me the other client's name and anything that differs (products, dates, pricing)?"),
    ("send it to the usual people", "draft",
     "I can't send email or messages, and I don't know who 'the usual people' are. I can format it as an email or a Slack post for you to send. Which channel, and should it be addressed to the whole team or to leads only?"),
    ("shorter", "draft",
     "Sure. How short: one sentence for Slack, or about half the length? And should I keep the thanks at the end?"),
    ("is this ok?", "draft",
     "It reads clearly. To give useful feedback, what should I check it for: tone, accuracy of the claims, grammar, or whether it fits a particular audience (customers, the board, the team)?"),
    ("update the doc with the new pricing", None,
     "I can't open or edit documents. If you paste the section and the new prices (which plans, monthly or annual, from which date), I'll rewrite it so you can paste it back."),
    ("why is it slow again", None,
     "Which system do you mean: the app, a dashboard, a build, or an API? And since when? If you can share the endpoint or the dashboard link and roughly when it started, I can suggest what to check first."),
    ("do the thing we discussed for the launch", None,
     "I don't have access to earlier discussions. Which launch, and what was the task: the announcement post, the FAQ, the email to customers, or something else? A few bullet points of what was agreed would be enough to start."),
    ("translate", "draft",
     "Into which language? And is it for customers or internal? For customer-facing text I'd keep the product names (Protect Plus) in English."),
    ("tidy this up", "draft",
     "Do you want light editing (grammar and flow, same length and tone) or a rewrite? And who will read it?"),
]


def ambiguous_call(rng, when) -> Call:
    ask, needs, answer = pick(rng, AMBIGUOUS)
    messages = []
    if needs == "draft":
        draft = pick(rng, DRAFTS)
        if rng.random() < 0.5:
            messages += [{"role": "user", "content": f"{pick(rng, ['Here is my draft:', 'draft for the announcement:', 'Can you look at this?'])}\n\n{draft}"},
                         {"role": "assistant", "content": "Thanks, I've read it. What would you like me to do with it?"}]
            ask_text = ask
        else:
            ask_text = f"{ask}\n\n{draft}"
    else:
        ask_text = ask
    if rng.random() < 0.3:
        ask_text = ask_text.capitalize() + pick(rng, ["", " pls", "?", " asap", "!"])
    messages.append({"role": "user", "content": ask_text})
    opener = pick(rng, ["", "", "", "Sure! ", "Glad to help. ", "Quick check first: "])
    if opener and not answer.startswith(("Sure", "Happy", "Into", "It reads")):
        answer = opener + answer[0].lower() + answer[1:] if opener.endswith(": ") else opener + answer
    return Call("ambiguous_requests", when, ASSISTANT_SYSTEM, messages, answer, {"temperature": 0.7, "max_tokens": 1024},
                user=f"{ascii_lower(pick(rng, FIRST))}.{ascii_lower(pick(rng, LAST))}")


# --------------------------------------------------------------------------------------------------
# Workload: marketing copy and other open-ended writing (via the LiteLLM proxy, Claude 3.5 Haiku)
# --------------------------------------------------------------------------------------------------

MARKETING_SYSTEM = ("You write marketing copy for Halcyon Labs (smart thermostats, cameras, doorbells and the "
                    "Halcyon Protect subscription). Voice: warm, clear, confident, never hype. No exclamation marks "
                    "in headlines. American English.\n\n"
                    "## Halcyon brand voice guide (marketing, 2026 edition)\n"
                    "Who we are: Halcyon makes the home take care of itself. We sell calm, not gadgets. Our customers are "
                    "busy people who want comfort and safety without learning a new hobby. They trust us with their homes "
                    "and their families' privacy, so we never exaggerate and never use fear to sell.\n"
                    "Voice: warm (we sound like a helpful neighbour who knows a lot about houses), clear (short sentences, "
                    "concrete benefits, plain words) and confident (we state what the product does; we do not hedge with "
                    "'may help' unless legal requires it).\n"
                    "Words we use: home, comfort, peace of mind, set up in minutes, works with what you have, privacy "
                    "built in, save energy, know what's happening.\n"
                    "Words we avoid: revolutionary, game-changing, cutting-edge, seamless, next-gen, unleash, smart "
                    "(as a noun), 'AI-powered' (say what it does instead), hack, ninja, guru, best-in-class.\n"
                    "Claims: energy savings are 'up to 12% on heating' (thermostat, per the 2025 field study) and must "
                    "keep 'up to'. Battery life is 'up to six months' for Cam Outdoor 2K. Never promise crime prevention, "
                    "insurance discounts or emergency response; Protect is not a monitored alarm service.\n"
                    "Privacy: when a piece mentions cameras or recordings, say that video is encrypted and that customers "
                    "control who can see it. Never show or describe children on camera.\n"
                    "Formatting: product names are written in full on first mention (Halcyon Thermostat T3), then short "
                    "(the T3). Protect plans are Protect Basic, Protect Plus and Protect Pro. Prices end in .99. Dates are "
                    "written 'October 21'. Use the Oxford comma. Sentence case for headlines and subject lines.\n"
                    "Channels: email subject lines max 50 characters, preheaders max 90; search ads: headlines max 30 "
                    "characters, descriptions max 90; LinkedIn posts max 1,300 characters with at most three hashtags at "
                    "the end; product descriptions between 50 and 150 words unless a length is given.\n"
                    "Calls to action: 'Shop now', 'See how it works', 'Set it up today', 'Learn more'. Never 'Buy now "
                    "before it's too late' or any false urgency; a sale end date is fine when it is real.\n"
                    "Audience notes: renters cannot rewire; stress no-drill and battery options. Property managers care "
                    "about many units and one app. Parents care about routines and privacy. Early adopters want specs "
                    "and integrations (Matter, Google Home, Alexa, HomeKit for cameras).\n"
                    "Legal lines (add only when the channel allows): 'Protect subscription sold separately.' 'Savings "
                    "vary with climate, home and use.' 'Google Home is a trademark of Google LLC.'\n"
                    "Output: only the copy requested, in the requested number of variants, with no preamble, no notes to "
                    "the reviewer and no markdown headings unless the format needs them.")
MKT_PRODUCTS = {
    "Halcyon Thermostat T3": ["learns your schedule in a week", "saves up to 12% on heating", "works with most 24V systems", "room sensors for the rooms you actually use"],
    "Halcyon Cam Outdoor 2K": ["2K HDR video", "color night vision", "weatherproof to IP65", "six months on a charge"],
    "Halcyon Doorbell Pro": ["head-to-toe video", "package detection", "quick replies", "wired or battery"],
    "Halcyon Protect Plus": ["30 days of video history", "smart alerts for people, packages and pets", "priority support", "covers every camera in the home"],
    "Halcyon Leak Sensor": ["alerts the moment water is detected", "freeze warnings", "two-year battery", "loud local siren"],
}
AUDIENCES = ["first-time homeowners", "renters", "busy parents", "property managers", "people who travel a lot", "tech-savvy early adopters"]
TONES = ["friendly", "premium", "practical", "reassuring"]


def marketing_call(rng, when) -> Call:
    product, feats = pick(rng, list(MKT_PRODUCTS.items()))
    audience, tone = pick(rng, AUDIENCES), pick(rng, TONES)
    chosen = rng.sample(feats, k=3)
    kind = pick(rng, ["description", "subjects", "linkedin", "ad"])
    if kind == "description":
        n = pick(rng, [60, 80, 120])
        prompt = f"Write a product description (about {n} words) for the {product}, aimed at {audience}. Tone: {tone}. Mention: {', '.join(chosen)}."
        opener = pick(rng, [f"Home should take care of itself.", f"Peace of mind, without the fuss.", f"Less worrying, more living.", f"Smart where it counts."])
        answer = (f"{opener} The {product} {chosen[0]}, so {pick(rng, ['you can get on with your day', 'you never have to think about it', 'the small things are handled'])}. "
                  f"It {chosen[1]} and {chosen[2]}, which matters when {pick(rng, ['the house is empty all day', 'you are juggling a hundred other things', 'you are miles away', 'every minute counts'])}. "
                  f"Setup takes minutes in the Halcyon app, and {pick(rng, ['everything works together from day one', 'it gets smarter the longer you use it', 'our support team is one tap away'])}. "
                  f"{pick(rng, ['Made for', 'Designed with', 'Built for'])} {audience} who want {pick(rng, ['a home that simply works', 'one less thing to check on', 'comfort without the complexity'])}.")
    elif kind == "subjects":
        event = pick(rng, ["Black Friday", "the holiday season", "our fall product launch", "Protect Plus annual plan", "a back-to-school sale"])
        prompt = f"Give me 5 email subject lines for {event}, featuring the {product}. Audience: {audience}. Max 50 characters each."
        short = product.replace("Halcyon ", "")
        lines = [f"Meet the new {short}", f"{short}: {chosen[0]}", f"Your home, a little smarter this season", f"{chosen[1].capitalize()}", f"The {short} is here, and it's good"]
        rng.shuffle(lines)
        answer = "\n".join(f"{i}. {line[:50]}" for i, line in enumerate(lines, start=1))
    elif kind == "linkedin":
        prompt = f"Draft a LinkedIn post announcing that the {product} now {chosen[0]}. Tone: {tone}. Include a call to action, 3 hashtags max."
        answer = (f"We've been listening. Starting today, the {product} {chosen[0]}.\n\n"
                  f"It was one of the most requested improvements from {audience}, and our team spent the last few months making sure it {pick(rng, ['just works', 'feels effortless', 'is reliable in every home'])}. "
                  f"Together with {chosen[1]} and {chosen[2]}, it makes {product.replace('Halcyon ', 'the ')} our most capable yet.\n\n"
                  f"The update is rolling out now. {pick(rng, ['See what is new at halcyonlabs.example/whats-new', 'Learn more at halcyonlabs.example', 'Update your app to try it'])}.\n\n#SmartHome #HomeSecurity #{pick(rng, ['IoT', 'ProductUpdate', 'HomeTech'])}")
    else:
        prompt = f"Write 3 variants of a short search ad for the {product}. Headline max 30 chars, description max 90 chars. Audience: {audience}."
        short = product.replace("Halcyon ", "")
        answer = "\n\n".join(f"Variant {i}\nHeadline: {h[:30]}\nDescription: {d[:90]}" for i, (h, d) in enumerate([
            (f"{short} by Halcyon", f"{chosen[0].capitalize()}. {chosen[1].capitalize()}. Set up in minutes."),
            (f"A smarter {short.split()[-1].lower()}", f"Made for {audience}: {chosen[2]}. Free shipping."),
            (f"Meet the {short}", f"{chosen[1].capitalize()} and {chosen[2]}. Try it risk-free for 30 days."),
        ], start=1))
    return Call("marketing_copy", when, MARKETING_SYSTEM, [{"role": "user", "content": prompt}], answer,
                {"temperature": 0.9, "max_tokens": 800}, user=f"marketing-{pick(rng, FIRST).lower()}", tags=["marketing"])


# --------------------------------------------------------------------------------------------------
# Models, prices (for the LiteLLM spend column, which LiteLLM computes itself) and speeds (for latency)
# --------------------------------------------------------------------------------------------------

HAIKU_PROFILE_ARN = f"arn:aws:bedrock:{REGION}:{ACCOUNT_ID}:inference-profile/us.anthropic.claude-haiku-4-5-20251001-v1:0"
NOVA_LITE = "us.amazon.nova-2-lite-v1:0"  # Nova 2 Lite through the US cross-region inference profile
NOVA_PRO = "amazon.nova-pro-v1:0"
OPENAI_SNAPSHOTS = {"gpt-5.4": "gpt-5.4-2026-03-05", "gpt-5.4-mini": "gpt-5.4-mini-2026-03-17", "gpt-5.5": "gpt-5.5-2026-04-23"}
FINGERPRINTS = {"gpt-5.4": ["fp_7d1f6c0b2a", "fp_9e04b17c55"], "gpt-5.4-mini": ["fp_3c5a8e9d10", "fp_c21b7f4e08"],
                "gpt-5.5": ["fp_a7e2914c6d", "fp_0b8d3f5e71"], "gpt-5.4-nano": ["fp_5f0e2a9c13", "fp_5f0e2a9c13"]}
LITELLM_PRICES = {"gpt-5.4-nano": (0.20e-6, 1.25e-6), "claude-sonnet-4-6": (3.00e-6, 15.00e-6)}
TOKENS_PER_S = {"gpt-5.4": 70, "gpt-5.4-mini": 140, "gpt-5.4-nano": 190, "gpt-5.5": 55, "claude-sonnet-4-6": 65,
                "claude-opus-4-7": 45, NOVA_LITE: 170, NOVA_PRO: 105, HAIKU_PROFILE_ARN: 120}
TOKEN_FACTOR = {"openai": 1.0, "anthropic": 1.1, "nova": 1.05}
# OpenAI reasoning models: the effort each app asks for, and the hidden reasoning tokens it tends to cost. They are
# billed as output tokens and counted in completion_tokens, but their text is never returned.
REASONING_EFFORT = {"ticket_triage": "none", "product_tagging": "none", "invoice_extraction": "low", "ambiguous_requests": "low",
                    "sql_generation": "medium", "svg_icons": "medium", "long_document_reasoning": "high"}
REASONING_TOKENS = {"none": (0, 0), "low": (1, 14), "medium": (6, 48), "high": (24, 140)}  # in units of 64 tokens
# Prompt caching. OpenAI caches a prompt prefix of at least 1,024 tokens automatically, in steps of 128 tokens;
# Anthropic caches up to a cache_control breakpoint. Both keep an idle entry about five minutes. A prefix that a whole
# workload shares (a system prompt) is warm when the full traffic, SAMPLE_RATE^-1 times denser than these files, sent
# it within that time; a document is only shared by one person's session, which is kept whole in the sample.
CACHE_TTL = timedelta(minutes=5)
OPENAI_CACHE_MIN, OPENAI_CACHE_STEP = 1024, 128


class PromptCache:
    def __init__(self, rng: random.Random, hit_rate: float = 1.0):
        self.rng, self.hit_rate, self.last_seen = rng, hit_rate, {}

    def warm(self, key: str, when: datetime, *, shared: bool) -> bool:
        window = CACHE_TTL / SAMPLE_RATE if shared else CACHE_TTL
        last = self.last_seen.get(key)
        self.last_seen[key] = when
        return last is not None and when - last <= window and self.rng.random() < self.hit_rate


def prefix_key(*parts: str | None) -> str:
    return hashlib.sha256("\x1f".join(p or "" for p in parts).encode()).hexdigest()


def reasoning_tokens(rng: random.Random, call: Call) -> int:
    lo, hi = REASONING_TOKENS[REASONING_EFFORT[call.workload]]
    return 64 * rng.randint(lo, hi) if hi else 0


def latency_ms(rng: random.Random, model: str, prompt_tokens: int, output_tokens: int) -> int:
    ttft = rng.uniform(250, 700) + prompt_tokens * rng.uniform(0.02, 0.06)
    return int(ttft + 1000 * output_tokens / (TOKENS_PER_S[model] * rng.uniform(0.8, 1.2)))


@dataclass
class Planned:
    call: Call
    fmt: str
    model: str


# --------------------------------------------------------------------------------------------------
# Writers: one per tool, each writing the shape that tool really produces
# --------------------------------------------------------------------------------------------------

def openai_messages(call: Call) -> list[dict]:
    """The document, when there is one, goes in front of the question so that it is a cacheable prefix."""
    messages = [dict(m) for m in call.messages]
    if call.cache_prefix:
        messages[-1]["content"] = f"{call.cache_prefix}\n\n{messages[-1]['content']}"
    return ([{"role": "system", "content": call.system}] if call.system else []) + messages


def openai_usage(rng: random.Random, call: Call, cache: PromptCache | None, reasoning: int) -> dict:
    messages = openai_messages(call)
    prompt = chat_prompt_tokens(None, messages)
    cached = 0
    if cache is not None:
        prefix = 3 + 4 + approx_tokens(call.system or "") + (4 + approx_tokens(call.cache_prefix) if call.cache_prefix else 0)
        key = prefix_key(call.system, call.cache_prefix)
        if cache.warm(key, call.created, shared=call.cache_prefix is None) and prefix >= OPENAI_CACHE_MIN:
            cached = prefix // OPENAI_CACHE_STEP * OPENAI_CACHE_STEP
    out = completion_tokens(call.response) + reasoning
    return {"prompt_tokens": prompt, "completion_tokens": out, "total_tokens": prompt + out,
            "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": reasoning, "audio_tokens": 0, "accepted_prediction_tokens": 0,
                                          "rejected_prediction_tokens": 0}}


def openai_completion(rng: random.Random, call: Call, model: str, cache: PromptCache | None, created: datetime | None = None) -> dict:
    reasoning = reasoning_tokens(rng, call)
    half = 0 if call.created < START + timedelta(days=12) else 1  # the fingerprint changes when OpenAI rolls a new build
    return {
        "id": "chatcmpl-" + rand_str(rng, 29), "object": "chat.completion",
        "created": int((created or call.created).timestamp()), "model": OPENAI_SNAPSHOTS[model],
        "choices": [{"index": 0, "message": {"role": "assistant", "content": call.response, "refusal": None, "annotations": []},
                     "logprobs": None, "finish_reason": "length" if call.truncated else "stop"}],
        "usage": openai_usage(rng, call, cache, reasoning),
        "service_tier": "default", "system_fingerprint": FINGERPRINTS[model][half],
    }


def openai_request(call: Call, model: str) -> dict:
    """GPT-5.x reasoning models take max_completion_tokens (the hidden reasoning counts against it) and accept a
    temperature only when reasoning is off."""
    effort = REASONING_EFFORT[call.workload]
    req = {"model": model, "messages": openai_messages(call), "reasoning_effort": effort}
    for key, value in call.params.items():
        if key == "max_tokens":
            req["max_completion_tokens"] = value + (0 if effort == "none" else 64 * REASONING_TOKENS[effort][1])
        elif key != "temperature" or effort == "none":
            req[key] = value
    if call.user:
        req["user"] = call.user
    return req


def write_openai_chat(rng: random.Random, planned: list[Planned], sample_rate: float | None) -> list[str]:
    lines = []
    cache = PromptCache(rng, hit_rate=0.9)  # routing sends some requests to a machine without the prefix
    for p in planned:
        resp = openai_completion(rng, p.call, p.model, cache)
        record = {"request": openai_request(p.call, p.model), "response": resp,
                  "duration_ms": latency_ms(rng, p.model, resp["usage"]["prompt_tokens"] - resp["usage"]["prompt_tokens_details"]["cached_tokens"],
                                            resp["usage"]["completion_tokens"])}
        if sample_rate is not None:
            record["sample_rate"] = sample_rate  # the app's log sampler states the fraction of calls it keeps
        lines.append(jdump(record))
    return lines


def write_openai_batch(rng: random.Random, planned: list[Planned], batch_start: datetime) -> tuple[list[str], list[str], str]:
    batch_id = "batch_" + rand_str(rng, 32, "0123456789abcdef")
    inputs, outputs = [], []
    finish = batch_start
    for i, p in enumerate(planned, start=1):
        custom_id = f"ap-inv-{batch_start:%Y%m%d}-{i:05d}"
        body = openai_request(p.call, p.model)
        inputs.append(json.dumps({"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions", "body": body}))
        resp = openai_completion(rng, p.call, p.model, None, created=p.call.created)
        resp["service_tier"] = "batch"
        finish = max(finish, p.call.created)
        outputs.append({"id": "batch_req_" + rand_str(rng, 32, "0123456789abcdef"), "custom_id": custom_id,
                        "response": {"status_code": 200, "request_id": "req_" + rand_str(rng, 32, "0123456789abcdef"), "body": resp},
                        "error": None})
    # The output file is not in input order: requests finish in parallel workers.
    outputs.sort(key=lambda o: (o["response"]["body"]["created"], o["id"]))
    return inputs, [jdump(o) for o in outputs], batch_id


def write_anthropic(rng: random.Random, planned: list[Planned], sample_rate: float | None) -> list[str]:
    lines = []
    cache = PromptCache(rng)
    for p in planned:
        c = p.call
        f = TOKEN_FACTOR["anthropic"]
        messages = []
        for i, m in enumerate(c.messages):
            if c.cache_prefix and i == len(c.messages) - 1:
                content = [{"type": "text", "text": c.cache_prefix, "cache_control": {"type": "ephemeral"}},
                           {"type": "text", "text": m["content"]}]
                messages.append({"role": m["role"], "content": content})
            else:
                messages.append({"role": m["role"], "content": m["content"]})
        request = {"model": p.model, "max_tokens": c.params.get("max_tokens", 1024), "system": c.system, "messages": messages}
        if "temperature" in c.params and not p.model.startswith("claude-opus"):
            request["temperature"] = c.params["temperature"]
        if c.user:
            request["metadata"] = {"user_id": c.user}
        prompt_total = chat_prompt_tokens(c.system, [{"content": (c.cache_prefix or "") + m["content"]} for m in c.messages], f)
        cache_create = cache_read = 0
        if c.cache_prefix:
            prefix = round((approx_tokens(c.system) + approx_tokens(c.cache_prefix) + 10) * f)
            if cache.warm(prefix_key(p.model, c.system, c.cache_prefix), c.created, shared=False):
                cache_read = prefix
            else:
                cache_create = prefix
        out = completion_tokens(c.response, f)
        uncached = prompt_total - cache_create - cache_read
        response = {"id": "msg_01" + rand_str(rng, 22), "type": "message", "role": "assistant", "model": p.model,
                    "content": [{"type": "text", "text": c.response}],
                    "stop_reason": "max_tokens" if c.truncated else "end_turn", "stop_sequence": None,
                    "usage": {"input_tokens": uncached, "cache_creation_input_tokens": cache_create,
                              "cache_read_input_tokens": cache_read,
                              "cache_creation": {"ephemeral_5m_input_tokens": cache_create, "ephemeral_1h_input_tokens": 0},
                              "output_tokens": out, "service_tier": "standard"}}
        record = {"created_at": iso_z(c.created), "request": request, "response": response,
                  "duration_ms": latency_ms(rng, p.model, uncached + cache_create, out)}
        if sample_rate is not None:
            record["sample_rate"] = sample_rate
        lines.append(jdump(record))
    return lines


BEDROCK_ROLES = {"ticket_triage": "support-triage-lambda/support-triage-prod",
                 "order_email_extraction": "expense-ingest-task/ecs-expense-ingest",
                 "meeting_summaries": "notes-summarizer-task/ecs-notes-summarizer"}


def write_bedrock(rng: random.Random, planned: list[Planned]) -> list[str]:
    lines = []
    for p in sorted(planned, key=lambda x: x.call.created):
        c = p.call
        f = TOKEN_FACTOR["nova"] if "nova" in p.model else TOKEN_FACTOR["anthropic"]
        tin = chat_prompt_tokens(c.system, c.messages, f)
        tout = completion_tokens(c.response, f)
        body = {"messages": [{"role": m["role"], "content": [{"text": m["content"]}]} for m in c.messages]}
        if c.system:
            body["system"] = [{"text": c.system}]
        body["inferenceConfig"] = {"maxTokens": c.params.get("max_tokens", 512), "temperature": c.params.get("temperature", 0.7)}
        body["additionalModelRequestFields"] = {}
        record = {
            "schemaType": "ModelInvocationLog", "schemaVersion": "1.0", "timestamp": iso_z(c.created, ms=False),
            "accountId": ACCOUNT_ID, "identity": {"arn": f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/{BEDROCK_ROLES[c.workload]}"},
            "region": REGION, "requestId": rand_uuid(rng), "operation": "Converse", "modelId": p.model,
            "input": {"inputContentType": "application/json", "inputBodyJson": body, "inputTokenCount": tin,
                      "cacheReadInputTokenCount": 0, "cacheWriteInputTokenCount": 0},
            "output": {"outputContentType": "application/json",
                       "outputBodyJson": {"output": {"message": {"role": "assistant", "content": [{"text": c.response}]}},
                                          "stopReason": "max_tokens" if c.truncated else "end_turn",
                                          "metrics": {"latencyMs": latency_ms(rng, p.model, tin, tout)},
                                          "usage": {"inputTokens": tin, "outputTokens": tout, "totalTokens": tin + tout}},
                       "outputTokenCount": tout},
        }
        lines.append(jdump(record))
    return lines


LITELLM_COLUMNS = ["request_id", "call_type", "api_key", "spend", "total_tokens", "prompt_tokens", "completion_tokens",
                   "startTime", "endTime", "request_duration_ms", "completionStartTime", "model", "model_id",
                   "model_group", "custom_llm_provider", "api_base", "user", "metadata", "cache_hit", "cache_key",
                   "request_tags", "team_id", "organization_id", "end_user", "requester_ip_address", "messages",
                   "response", "session_id", "status", "mcp_namespaced_tool_name", "agent_id", "proxy_server_request"]
LITELLM_KEYS = {  # virtual key alias -> (team alias, model group)
    "marketplace-ingest": ("marketplace", "tagger"),
    "marketing-team": ("marketing", "copywriter"),
}


def pg_ts(dt: datetime) -> str:
    """How Postgres prints timestamp(3) without time zone in a CSV export."""
    return dt.strftime("%Y-%m-%d %H:%M:%S.") + f"{dt.microsecond // 1000:03d}"


def write_litellm(rng: random.Random, planned: list[Planned], failures: int) -> list[list[str]]:
    ids = random.Random("litellm-proxy-ids")  # the proxy's keys, teams and model ids do not change between exports
    keys = {alias: hashlib.sha256(("sk-" + rand_str(ids, 22)).encode()).hexdigest() for alias in LITELLM_KEYS}
    teams = {alias: rand_uuid(ids) for alias in LITELLM_KEYS}
    model_ids = {m: hashlib.sha256(f"{m}-{ids.random()}".encode()).hexdigest() for m in LITELLM_PRICES}
    fail_at = set(rng.sample(range(len(planned)), k=failures)) if failures else set()
    rows = []
    for idx, p in enumerate(sorted(planned, key=lambda x: x.call.created)):
        c = p.call
        alias = "marketplace-ingest" if c.workload == "product_tagging" else "marketing-team"
        team_alias, group = LITELLM_KEYS[alias]
        is_anthropic = p.model.startswith("claude")
        f = TOKEN_FACTOR["anthropic"] if is_anthropic else 1.0
        tin = chat_prompt_tokens(c.system, c.messages, f)
        tout = completion_tokens(c.response, f)
        failed = idx in fail_at and is_anthropic
        dur = latency_ms(rng, p.model, tin, tout)
        start = c.created
        end = start + timedelta(milliseconds=dur if not failed else rng.randrange(300, 2500))
        request_id = ("chatcmpl-" + rand_uuid(rng)) if is_anthropic else ("chatcmpl-" + rand_str(rng, 29))
        messages = ([{"role": "system", "content": c.system}] if c.system else []) + c.messages
        if failed:
            tin = tout = 0
            spend = 0.0
            response = {}
            status = "failure"
            error = {"error_code": "529", "error_class": "InternalServerError", "llm_provider": "anthropic",
                     "error_message": "litellm.InternalServerError: AnthropicException - {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}"}
        else:
            pin, pout = LITELLM_PRICES[p.model]
            spend = tin * pin + tout * pout
            response = {"id": request_id, "created": int(start.timestamp()), "model": p.model, "object": "chat.completion",
                        "system_fingerprint": None if is_anthropic else FINGERPRINTS[p.model][0],
                        "choices": [{"finish_reason": "stop", "index": 0,
                                     "message": {"content": c.response, "role": "assistant", "tool_calls": None, "function_call": None}}],
                        "usage": {"completion_tokens": tout, "prompt_tokens": tin, "total_tokens": tin + tout,
                                  "completion_tokens_details": None,
                                  "prompt_tokens_details": {"audio_tokens": None, "cached_tokens": 0}}}
            status = "success"
            error = None
        ip = f"10.0.{rng.randrange(2, 8)}.{rng.randrange(10, 250)}"
        metadata = {"user_api_key": keys[alias], "user_api_key_alias": alias, "user_api_key_team_id": teams[alias],
                    "user_api_key_org_id": None, "user_api_key_user_id": c.user, "user_api_key_team_alias": team_alias,
                    "spend_logs_metadata": None, "requester_ip_address": ip, "applied_guardrails": [], "status": status}
        if error:
            metadata["error_information"] = error
        rows.append([
            request_id, "acompletion", keys[alias], repr(spend), str(tin + tout), str(tin), str(tout),
            pg_ts(start), pg_ts(end), str(int((end - start).total_seconds() * 1000)),
            pg_ts(start + timedelta(milliseconds=min(dur, rng.randrange(250, 900)))) if not failed else "",
            p.model, model_ids[p.model], group, "anthropic" if is_anthropic else "openai",
            "https://api.anthropic.com/v1/messages" if is_anthropic else "https://api.openai.com/v1",
            c.user or "", jdump(metadata), "False", "Cache OFF", jdump(c.tags), teams[alias], "", "", ip,
            jdump(messages), jdump(response), rand_uuid(rng), status, "", "", "{}",
        ])
    return rows


# --------------------------------------------------------------------------------------------------
# The plan: which workload runs where, how often and when
# --------------------------------------------------------------------------------------------------

BATCH_SUBMITTED = START + timedelta(days=14, hours=1, minutes=37)  # 2026-10-15 01:37 UTC, a month-end AP backfill
LAUNCH_DAY = 20  # 2026-10-21: the fall launch doubles marketing traffic

PLAN = [
    # name, maker, format, model, count, traffic profile, day range, per-day boost. Counts are what the 1-in-50 sample
    # holds; long-document reasoning counts sessions of 1-4 questions about one document.
    # Support moved triage from gpt-5.4-mini to Nova 2 Lite on Bedrock halfway through the month.
    ("ticket_triage", triage_call, "openai-chat", "gpt-5.4-mini", 400, "support", (0, 16), None),
    ("ticket_triage", triage_call, "bedrock", NOVA_LITE, 600, "support", (16, DAYS), None),
    ("sql_generation", sql_call, "openai-chat", "gpt-5.4", 240, "office", (0, DAYS), None),
    ("svg_icons", svg_call, "openai-chat", "gpt-5.4", 150, "office", (0, DAYS), None),
    ("ambiguous_requests", ambiguous_call, "openai-chat", "gpt-5.4", 80, "office", (0, DAYS), None),
    ("python_functions", code_call, "anthropic", "claude-sonnet-4-6", 220, "office", (0, DAYS), None),
    ("ambiguous_requests", ambiguous_call, "anthropic", "claude-sonnet-4-6", 45, "office", (0, DAYS), None),
    ("code_review", review_call, "anthropic", "claude-sonnet-4-6", 150, "office", (0, DAYS), None),
    ("long_document_reasoning", contract_session, "anthropic", "claude-opus-4-7", 30, "office", (0, DAYS), None),
    ("long_document_reasoning", incident_session, "openai-chat", "gpt-5.5", 12, "office", (0, DAYS), None),
    ("invoice_extraction", invoice_call, "openai-chat", "gpt-5.4-mini", 110, "office", (0, DAYS), None),  # one upload at a time
    ("invoice_extraction", invoice_call, "openai-batch", "gpt-5.4-mini", 110, None, None, None),  # the month-end backfill
    ("order_email_extraction", order_call, "bedrock", HAIKU_PROFILE_ARN, 200, "office", (0, DAYS), None),
    ("meeting_summaries", meeting_call, "bedrock", NOVA_PRO, 320, "office", (0, DAYS), None),
    ("product_tagging", tagging_call, "litellm", "gpt-5.4-nano", 380, "evening", (0, DAYS), None),
    ("marketing_copy", marketing_call, "litellm", "claude-sonnet-4-6", 180, "office", (0, DAYS), {LAUNCH_DAY - 1: 2.5, LAUNCH_DAY: 3.0}),
]
SESSIONS = (contract_session, incident_session)


def build_calls(seed: int) -> list[Planned]:
    planned: list[Planned] = []
    for name, maker, fmt, model, count, profile, days, boost in PLAN:
        rng = rng_for(seed, name, fmt)
        if maker in SESSIONS:  # `count` sessions of questions about one document each
            for start in sample_times(rng, count, profile, days, boost):
                planned += [Planned(c, fmt, model) for c in maker(rng, start)]
            continue
        if fmt == "openai-batch":
            # Batch requests complete whenever OpenAI has capacity, within the 24-hour completion window.
            times = sorted(BATCH_SUBMITTED + timedelta(seconds=rng.randrange(60, 20 * 3600)) for _ in range(count))
        else:
            times = sample_times(rng, count, profile, days, boost)
        planned += [Planned(maker(rng, t), fmt, model) for t in times]
    return planned


# --------------------------------------------------------------------------------------------------
# Deliberate damage: what real exports contain now and then
# --------------------------------------------------------------------------------------------------

def plant_jsonl(lines: list[str], rng: random.Random, *, truncate_extra: str | None = None, non_object: str | None = None,
                duplicates: int = 0) -> tuple[list[str], list[dict]]:
    """Insert a truncated record, a non-object line and repeated lines; return the lines and what was planted."""
    out = list(lines)
    planted = []
    if duplicates:
        for _ in range(duplicates):
            i = rng.randrange(len(out) // 2, len(out) - 1)
            out.insert(i + 1, out[i])  # a log shipper retried a batch and wrote the line again
            planted.append({"kind": "duplicate", "insert_after": i})
    if truncate_extra is not None:
        i = rng.randrange(len(out) // 4, len(out) // 2)
        out.insert(i, truncate_extra[: int(len(truncate_extra) * 0.6)])  # the writer died mid-line
        planted.append({"kind": "truncated", "index": i})
    if non_object is not None:
        i = rng.randrange(len(out) // 2, 3 * len(out) // 4)
        out.insert(i, non_object)
        planted.append({"kind": "non_object", "index": i})
    return out, planted


def line_numbers(lines: list[str], predicate) -> list[int]:
    return [n for n, line in enumerate(lines, start=1) if predicate(line)]


# --------------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------------

def write_gzip(path: Path, text: str) -> None:
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as gz:
        gz.write(text.encode("utf-8"))
    path.write_bytes(buf.getvalue())


def write_text(path: Path, text: str) -> None:
    if path.name.endswith(".gz"):
        write_gzip(path, text)
    else:
        path.write_text(text, encoding="utf-8")


def generate(seed: int, out: Path, sample_rate: float | None = SAMPLE_RATE) -> dict:
    """Write the month into *out*. *sample_rate* is stated in the app logs that can state it (None: stated nowhere)."""
    planned = build_calls(seed)
    by_fmt: dict[str, list[Planned]] = {}
    for p in planned:
        by_fmt.setdefault(p.fmt, []).append(p)
    for group in by_fmt.values():
        group.sort(key=lambda p: p.call.created)
    damage = rng_for(seed, "damage")
    manifest = {"seed": seed, "window": [START.strftime("%Y-%m-%d"), (START + timedelta(days=DAYS - 1)).strftime("%Y-%m-%d")],
                "sample_rate": SAMPLE_RATE, "sample_rate_stated_in": [], "files": {}, "rejects": [], "duplicates": []}
    for sub in ("openai", "anthropic", "bedrock", "litellm"):
        (out / sub).mkdir(parents=True, exist_ok=True)

    def note(rel: str, fmt: str, records: int, group: list[Planned]):
        manifest["files"][rel] = {"format": fmt, "records": records,
                                  "workloads": dict(sorted(_count(p.call.workload for p in group).items())),
                                  "models": dict(sorted(_count(p.model for p in group).items()))}

    # OpenAI chat-completions app log
    rng = rng_for(seed, "write", "openai-chat")
    group = by_fmt["openai-chat"]
    lines = write_openai_chat(rng, group, sample_rate)
    extra = write_openai_chat(rng, [Planned(sql_call(rng, group[len(group) // 3].call.created), "openai-chat", "gpt-5.4")], sample_rate)[0]
    rotated = "\"--- log rotated by app-logger at " + iso_z(group[len(group) * 3 // 5].call.created) + " ---\""
    lines, planted = plant_jsonl(lines, damage, truncate_extra=extra, non_object=rotated, duplicates=2)
    # The app ships its log through the same forwarder as the Anthropic one: gzip JSON Lines, one object per month here.
    rel = "openai/chat_completions-2026-10.jsonl.gz"
    write_text(out / rel, "\n".join(lines) + "\n")
    if sample_rate is not None:
        manifest["sample_rate_stated_in"].append(rel)
    note(rel, "openai chat.completions request/response pairs", len(group), group)
    for n in line_numbers(lines, lambda l: l == extra[: int(len(extra) * 0.6)]):
        manifest["rejects"].append({"file": rel, "line": n, "why": "truncated JSON: the logging process died mid-write"})
    for n in line_numbers(lines, lambda l: l == rotated):
        manifest["rejects"].append({"file": rel, "line": n, "why": "valid JSON but not an object: a log-rotation marker string"})
    seen: dict[str, int] = {}
    for n, line in enumerate(lines, start=1):
        if line in seen:
            manifest["duplicates"].append({"file": rel, "line": n, "same_as_line": seen[line]})
        seen.setdefault(line, n)

    # OpenAI Batch job: input file (written by our script) and output file (downloaded from OpenAI)
    rng = rng_for(seed, "write", "openai-batch")
    group = by_fmt["openai-batch"]
    inputs, outputs, batch_id = write_openai_batch(rng, group, BATCH_SUBMITTED)
    for kind, data in (("input", inputs), ("output", outputs)):
        rel = f"openai/{batch_id}_{kind}.jsonl"
        (out / rel).write_text("\n".join(data) + "\n", encoding="utf-8")
        note(rel, f"OpenAI Batch {kind} file (/v1/chat/completions)", len(data), group)
    manifest["batch"] = {"id": batch_id, "submitted": iso_z(BATCH_SUBMITTED), "requests": len(group),
                         "note": "input and output hold the same requests; joined on custom_id they are one record each"}

    # Anthropic Messages app log
    rng = rng_for(seed, "write", "anthropic")
    group = by_fmt["anthropic"]
    lines = write_anthropic(rng, group, sample_rate)
    extra_call = review_call(rng, group[len(group) // 2].call.created)
    extra = write_anthropic(rng, [Planned(extra_call, "anthropic", "claude-sonnet-4-6")], sample_rate)[0]
    lines, _ = plant_jsonl(lines, damage, truncate_extra=extra)
    # The app ships this log through a log forwarder that writes gzip JSON Lines objects, one per month here.
    rel = "anthropic/messages-2026-10.jsonl.gz"
    write_gzip(out / rel, "\n".join(lines) + "\n")
    note(rel, "Anthropic Messages request/response pairs, gzip JSON Lines", len(group), group)
    if sample_rate is not None:
        manifest["sample_rate_stated_in"].append(rel)
    for n in line_numbers(lines, lambda l: l == extra[: int(len(extra) * 0.6)]):
        manifest["rejects"].append({"file": rel, "line": n, "why": "truncated JSON: the logging process died mid-write"})

    # Bedrock model-invocation logs, as S3 delivers them (gzip, one JSON record per line)
    rng = rng_for(seed, "write", "bedrock")
    group = by_fmt["bedrock"]
    lines = write_bedrock(rng, group)
    rel = f"bedrock/model-invocations-{REGION}-2026-10.json.gz"
    write_gzip(out / rel, "\n".join(lines) + "\n")
    note(rel, "AWS Bedrock model invocation logs (Converse), gzip JSON Lines", len(group), group)

    # LiteLLM SpendLogs exported from Postgres as CSV
    rng = rng_for(seed, "write", "litellm")
    group = by_fmt["litellm"]
    rows = write_litellm(rng, group, failures=3)
    last = group[-1].call
    extra = write_litellm(rng, [Planned(marketing_call(rng, last.created + timedelta(minutes=3)), "litellm", "claude-sonnet-4-6")], failures=0)[0]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(LITELLM_COLUMNS)
    writer.writerows(rows + [extra])
    text = buf.getvalue()
    # The export was interrupted: the last row stops inside the JSON of its `messages` cell, with no closing
    # quote and no newline. That request is lost; the rows before it are complete.
    last_line_start = text.rstrip("\n").rfind("\n") + 1
    messages_at = text.index('"[{""role""', last_line_start)
    text = text[: messages_at + (len(text) - messages_at) // 3]
    # Exported with `psql -c "\\copy (...) to stdout csv header" | gzip`, as a team keeps a table dump in object storage.
    rel = "litellm/LiteLLM_SpendLogs.csv.gz"
    write_text(out / rel, text)
    note(rel, "LiteLLM proxy LiteLLM_SpendLogs table, CSV export", len(group), group)
    manifest["files"][rel]["failures"] = 3
    manifest["rejects"].append({"file": rel, "line": len(rows) + 2, "record": len(rows) + 1,
                                "why": f"the export was interrupted: the last row (request_id {extra[0]}) stops inside the JSON of its "
                                       f"`messages` cell ({LITELLM_COLUMNS.index('messages') + 1} of {len(LITELLM_COLUMNS)} cells, unterminated quote, invalid JSON)"})

    manifest["requests"] = len(planned)
    manifest["workloads"] = dict(sorted(_count(p.call.workload for p in planned).items()))
    manifest["rejects"].sort(key=lambda r: (r["file"], r["line"]))
    return manifest


def _count(items) -> dict:
    counts: dict = {}
    for item in items:
        counts[item] = counts.get(item, 0) + 1
    return counts


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"random seed (default {DEFAULT_SEED}, the committed files)")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent, help="output folder (default: next to this script)")
    parser.add_argument("--manifest", action="store_true", help="print what was written (counts, planted rejects) as JSON on stdout")
    parser.add_argument("--sample-rate-unstated", action="store_true",
                        help=f"do not write the sample rate ({SAMPLE_RATE}) into the app logs, as an export that cannot state it")
    args = parser.parse_args(argv)
    manifest = generate(args.seed, args.out, None if args.sample_rate_unstated else SAMPLE_RATE)
    if args.manifest:
        print(json.dumps(manifest, indent=2, ensure_ascii=False))
    else:
        total = sum(f.stat().st_size for f in args.out.rglob("*") if f.is_file() and f.suffix in (".jsonl", ".gz", ".csv"))
        print(f"wrote {manifest['requests']} requests in {len(manifest['files'])} files ({total / 1e6:.2f} MB) to {args.out}; "
              f"{len(manifest['rejects'])} malformed lines and {len(manifest['duplicates'])} duplicate lines planted")


if __name__ == "__main__":
    main()
