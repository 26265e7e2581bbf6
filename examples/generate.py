#!/usr/bin/env python3
"""Generate examples/acme-mentions.ndjson: one week of mentions of a
fictional airline, "Acme Air", and its competitor, "Globex Airways".

Everything here is invented: the brands, the people, the flights, the links.
No text comes from any real dataset; every post is assembled from the
templates and slot fillers below, then roughened (typos, lower case, emoji,
hashtags) the way people really write.

The week tells a story the engine should notice (times in UTC; the audience
lives around UTC-6, so 13:00 local is 19:00Z):

  * Mon 2025-03-03 00:00Z .. Mon 2025-03-10 00:00Z: a quiet baseline with a
    daily cycle (busy by day, near silent at night) for both brands:
    chatter, news links, questions, praise and the odd individual complaint,
    plus the help account answering some of them.
  * Wed 2025-03-05 23:18Z: a travel writer with 1.24M followers complains
    about a three-hour tarmac wait. Retweets and replies follow for hours;
    the post itself is exported with its final (large) counts.
  * Fri 2025-03-07 19:35Z .. ~22:40Z: the COMPLAINT WAVE. Acme's app and
    website go down, flights out of Denver are cancelled, and a few hundred
    people complain within three hours: angry, polite, questions that report
    a failure, and two copy-paste texts posted by many different people (a
    coordinated "mugging"). Ordinary chatter carries on underneath, so the
    complaint share jumps far more than the total volume.
  * Sat 2025-03-08 15:30Z .. 18:00Z: a smaller, happy spike for Globex,
    which turns on free Wi-Fi.
  * A few posts say "ACME" without meaning the airline (cartoon anvils): a
    good query leaves them out.

The output is written newest-first, like a platform export, because
`earshot backfill` must not rely on input order.

Usage:
    python3 examples/generate.py                  # writes examples/acme-mentions.ndjson
    python3 examples/generate.py --out - --seed 7 # another week, to stdout

The same seed always gives the same file (only random.Random(int) and its
documented, version-stable methods are used). A summary goes to stderr.
"""

import argparse
import json
import math
import os
import random
import sys
from datetime import datetime, timedelta, timezone

UTC = timezone.utc
START = datetime(2025, 3, 3, tzinfo=UTC)  # a Monday
DAYS = 7
LOCAL_OFFSET_H = -6  # where most of the audience lives

# Mentions per day at a weekday's normal level, before the daily cycle.
ACME_PER_DAY = 400
GLOBEX_PER_DAY = 170

# Relative activity by local hour: people post by day and in the evening,
# hardly at all between 01:00 and 05:00.
HOUR_WEIGHT = [
    0.30, 0.17, 0.10, 0.07, 0.07, 0.14, 0.38, 0.70, 0.92, 1.00, 1.00, 1.02,
    1.06, 1.00, 0.98, 1.00, 1.05, 1.12, 1.08, 1.00, 0.92, 0.78, 0.58, 0.42,
]
# Monday .. Sunday: a busier Friday and Sunday (travel days), a quiet Saturday.
DAY_WEIGHT = [1.00, 0.94, 0.96, 1.00, 1.10, 0.84, 1.02]

VIRAL_AT = datetime(2025, 3, 5, 23, 18, 41, tzinfo=UTC)
WAVE_AT = datetime(2025, 3, 7, 19, 35, 0, tzinfo=UTC)
GLOBEX_AT = datetime(2025, 3, 8, 15, 30, 0, tzinfo=UTC)

TWITTER_EPOCH_MS = 1288834974657

# --------------------------------------------------------------------------
# Slot fillers.

CITIES = [
    ("Denver", "DEN"), ("Austin", "AUS"), ("Phoenix", "PHX"), ("Seattle", "SEA"),
    ("Chicago", "ORD"), ("Boise", "BOI"), ("Salt Lake", "SLC"), ("Dallas", "DFW"),
    ("Miami", "MIA"), ("Orlando", "MCO"), ("Vegas", "LAS"), ("San Diego", "SAN"),
    ("Portland", "PDX"), ("Kansas City", "MCI"), ("Omaha", "OMA"),
    ("Albuquerque", "ABQ"), ("Minneapolis", "MSP"), ("Nashville", "BNA"),
    ("Atlanta", "ATL"), ("Newark", "EWR"), ("Boston", "BOS"), ("Tucson", "TUS"),
    ("Spokane", "GEG"), ("El Paso", "ELP"), ("Sacramento", "SMF"),
]
FIRST = [
    "amy", "ben", "carla", "dev", "ellie", "frank", "gabe", "hana", "ian",
    "jess", "kev", "lena", "marco", "nina", "omar", "priya", "quinn", "rosa",
    "sam", "tara", "umar", "vic", "wes", "xena", "yusuf", "zoe", "mike",
    "sarah", "chris", "kat", "leo", "maya", "noah", "olivia", "raj", "sofia",
    "tom", "luis", "grace", "hector", "ines", "jamal", "kenji", "lucy",
    "mateo", "nora", "pete", "rachel", "steph", "tyler", "val", "will", "abby",
    "brandon", "dani", "eric", "fatima", "greg", "holly", "isaac", "jo",
]
LAST = [
    "smith", "nguyen", "garcia", "okafor", "patel", "kim", "novak", "reyes",
    "berg", "walsh", "costa", "ito", "mills", "park", "rossi", "baker", "diaz",
    "frost", "hughes", "lopez", "moreau", "shah", "stone", "tran", "ward",
    "young", "cruz", "ellis", "fox", "gray", "hale", "khan", "lund", "nash",
]
WORDS = [
    "coffee", "miles", "runway", "window", "aisle", "jetlag", "carryon",
    "boarding", "layover", "wander", "trail", "desert", "mountain", "pixel",
    "taco", "bagel", "vinyl", "retro", "sunny", "rainy", "lazy", "tiny",
    "grumpy", "happy", "sleepy", "cosmic", "urban", "prairie", "cactus",
]
WORD2 = [
    "dad", "mom", "nerd", "girl", "guy", "life", "fan", "queen", "king",
    "chaser", "hopper", "kid", "lover", "diaries", "notes", "bot", "crew",
]
INSTANCES = [
    "mastodon.social", "mstdn.social", "fosstodon.org", "hachyderm.io",
    "mas.to", "techhub.social", "mastodon.online", "toot.community",
    "aus.social", "sfba.social", "infosec.exchange", "journa.host",
]
SUBREDDITS = ["flying", "travel", "Denver", "awardtravel", "delta", "Flights",
              "onebag", "AirlineReviews", "Austin", "phoenix"]
NEWS_SITES = [
    "skyfarenews.example", "aerodaily.example", "denvertribune.example",
    "travelwire.example", "gatechange.example", "milesandpoints.example",
]

POS_EMOJI = ["🙏", "😍", "👏", "✈️", "❤️", "😊", "🙌", "💙", "🥹", "🔥"]
NEG_EMOJI = ["😡", "🤬", "🙄", "😤", "😭", "💀", "🤦‍♀️", "👎", "😑", "🫠"]
NEU_EMOJI = ["✈️", "🧳", "☕", "🌅", "😴", "🛫", "🛬", "📍"]

ACME = ["@acmeair", "@acmeair", "@acmeair", "Acme Air", "Acme Air", "acme air",
        "@AcmeAir", "ACME AIR"]
ACME_NAME = ["Acme Air", "Acme Air", "acme air", "Acme Air", "ACME Air"]
GLOBEX = ["@globexair", "@globexair", "Globex", "Globex", "globex", "@GlobexAir",
          "Globex Airways"]

CREW = ["Denise", "Marcus", "Keiko", "Ray", "Lupe", "Janet", "Theo", "Bree",
        "Arturo", "Pam", "Gideon", "Mei"]
HELP_SIGNOFF = ["^JM", "^KR", "^TD", "^AS", "^LP", "^BW", "^CN"]


class Gen:
    def __init__(self, seed):
        self.r = random.Random(seed)
        self.posts = []
        self.ids = set()
        self.authors = self._make_authors(3400)
        self.reddit_threads = []  # (id36, subreddit, slug) of posts in the data

    # ----------------------------------------------------------------------
    # People.

    def _make_authors(self, n):
        """A fixed pool of people, each with a home platform and a follower
        count from a heavy-tailed distribution (most have a few hundred)."""
        r = self.r
        seen = set()
        pool = []
        while len(pool) < n:
            style = r.random()
            if style < 0.35:
                h = r.choice(FIRST) + r.choice(["", "_", "."]) + r.choice(LAST)
            elif style < 0.6:
                h = r.choice(WORDS) + r.choice(["", "_"]) + r.choice(WORD2)
            elif style < 0.8:
                h = r.choice(FIRST) + r.choice(LAST)[:1] + str(r.randint(1, 99))
            else:
                h = r.choice(FIRST) + r.choice(["_", ""]) + r.choice(WORDS) \
                    + str(r.randint(70, 2004))
            h = h.replace(".", "_") if r.random() < 0.7 else h.replace(".", "")
            src = r.choices(["twitter", "mastodon", "reddit"], [0.6, 0.25, 0.15])[0]
            if src == "mastodon":
                h = h.replace(".", "_") + "@" + r.choice(INSTANCES)
            elif src == "reddit" and r.random() < 0.3:
                h = r.choice(["throwaway_", "Ok_", "Fun_", "Silly_"]) + h.title() \
                    + str(r.randint(10, 9999))
            if h in seen:
                continue
            seen.add(h)
            followers = int(min(90000, max(3, r.lognormvariate(5.5, 1.5))))
            pool.append({"author": h, "source": src, "followers": followers})
        return pool

    def person(self, source=None):
        """Someone from the pool. Posting is lopsided: a low index is more
        likely, so a few people post several times over the week."""
        r = self.r
        while True:
            i = int(len(self.authors) * (r.random() ** 1.6))
            a = self.authors[i]
            if source is None or a["source"] == source:
                return a

    def fresh_people(self, k, source_weights=(0.72, 0.2, 0.08)):
        """k distinct people (a campaign or a wave draws many different
        authors, not the same few again and again)."""
        r = self.r
        out, used = [], set()
        while len(out) < k:
            src = r.choices(["twitter", "mastodon", "reddit"], source_weights)[0]
            a = self.person(src)
            if a["author"] in used:
                # Fall back to a uniform draw to avoid spinning on regulars.
                a = r.choice(self.authors)
                if a["author"] in used or a["source"] != src:
                    continue
            used.add(a["author"])
            out.append(a)
        return out

    # ----------------------------------------------------------------------
    # Identifiers, links and timestamps, per platform.

    def _new_id(self, source, t, reddit_kind="t3"):
        r = self.r
        ms = int(t.timestamp() * 1000) + r.randint(0, 999)
        if source == "reddit":
            ms -= ms % 1000  # Reddit times are whole seconds
        while True:
            if source == "twitter":
                pid = str(((ms - TWITTER_EPOCH_MS) << 22) | r.getrandbits(22))
            elif source == "mastodon":
                pid = str((ms << 16) | r.getrandbits(16))
            else:
                # Reddit ids are base 36 and grow with time.
                n = 3_300_000_000 + (ms // 1000 - 1_740_000_000) * 40 + r.randint(0, 39)
                pid = reddit_kind + "_" + base36(n)
            if pid not in self.ids:
                self.ids.add(pid)
                return pid, ms

    def post(self, t, text, who, tag, reply_to=None, lang="en", counts=None,
             reddit_kind=None, subreddit=None):
        """Append one mention and return it. `tag` is our own label for the
        summary; it is not written out."""
        r = self.r
        src = who["source"]
        if src == "reddit" and reddit_kind is None:
            reddit_kind = "t1" if reply_to else "t3"
        pid, ms = self._new_id(src, t, reddit_kind or "t3")
        author = who["author"]
        if src == "reddit":
            text = redditize(text)
        if src == "twitter":
            url = "https://x.com/%s/status/%s" % (author, pid)
            created = fmt_time(ms, "ms")
        elif src == "mastodon":
            user, inst = author.split("@", 1)
            url = "https://%s/@%s/%s" % (inst, user, pid)
            created = fmt_time(ms, "ms")
        else:
            sub = subreddit or r.choice(SUBREDDITS)
            short = pid.split("_", 1)[1]
            if reddit_kind == "t3":
                slug = slugify(text)
                url = "https://www.reddit.com/r/%s/comments/%s/%s/" % (sub, short, slug)
                self.reddit_threads.append((pid, sub, slug))
            else:
                parent = reply_to.split("_", 1)[1] if reply_to else short
                url = "https://www.reddit.com/r/%s/comments/%s/comment/%s/" % (
                    sub, parent, short)
            created = fmt_time(ms, "offset")
        if counts is None:
            counts = self.engagement(who["followers"], tag)
        m = {
            "id": pid,
            "created_at": created,
            "text": text,
            "author": author,
            "source": src,
            "url": url,
            "lang": lang,
            "followers": who["followers"],
            "likes": counts[0],
            "reposts": counts[1],
            "replies": counts[2],
        }
        if src == "reddit":
            # Reddit has scores and comment counts, but no follower count
            # in its listings and nothing like a repost.
            del m["followers"]
            m["reposts"] = 0
        if reply_to:
            m["reply_to"] = reply_to
        self.posts.append((ms, tag, m))
        return m

    def engagement(self, followers, tag):
        """Likes, reposts and replies: mostly a handful, growing with the
        audience; complaints draw replies, praise draws likes."""
        r = self.r
        base = (followers ** 0.55) * r.lognormvariate(-2.2, 1.0)
        likes = int(base * (1.6 if "praise" in tag else 1.0))
        reposts = int(base * r.uniform(0.05, 0.35))
        replies = int(base * (0.5 if "complaint" in tag else 0.15) * r.random())
        return likes, reposts, replies

    def fake_parent_id(self, source, t):
        """An id of a post outside the export (a reply to something that
        did not mention the brand)."""
        back = t - timedelta(minutes=self.r.randint(2, 600))
        pid, _ = self._new_id(source, back, "t3")
        return pid

    # ----------------------------------------------------------------------
    # Text.

    def fill(self, tpl, **extra):
        r = self.r
        city, code = r.choice(CITIES)
        city2, code2 = r.choice([c for c in CITIES if c[0] != city])
        slots = {
            "brand": r.choice(ACME),
            "name": r.choice(ACME_NAME),
            "gbrand": r.choice(GLOBEX),
            "city": city, "code": code, "city2": city2, "code2": code2,
            "flight": str(r.choice([r.randint(100, 999), r.randint(1000, 2999)])),
            "gflight": str(r.randint(10, 899)),
            "hours": r.choice(["2", "3", "4", "5", "two", "three", "four"]),
            "minutes": str(r.choice([20, 25, 30, 40, 45, 50, 55, 70, 90])),
            "days": r.choice(["2", "3", "4", "5", "three", "four", "six"]),
            "gate": r.choice("ABC") + str(r.randint(1, 48)),
            "crew": r.choice(CREW),
            "conf": "".join(r.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(6)),
            "price": str(r.choice([39, 49, 59, 79, 89, 119, 149, 189, 240, 310])),
            "pos": r.choice(POS_EMOJI),
            "neg": r.choice(NEG_EMOJI),
            "neu": r.choice(NEU_EMOJI),
            "row": str(r.randint(3, 34)) + r.choice("ABCDEF"),
            "link": self.news_link(),
            "pic": "https://t.co/" + "".join(
                r.choice("abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ0123456789")
                for _ in range(10)),
        }
        slots.update(extra)
        return tpl.format(**slots)

    def news_link(self):
        r = self.r
        site = r.choice(NEWS_SITES)
        slug = "-".join(r.sample(["acme", "air", "fares", "routes", "denver",
                                  "travel", "airline", "summer", "update",
                                  "passengers", "new", "service"], 4))
        return "https://%s/%d/03/%s" % (site, 2025, slug)

    def roughen(self, text, mood):
        """Make a template sound like a person: sometimes all lower case,
        a typo, a missing apostrophe, an emoji or a hashtag tacked on."""
        r = self.r
        if r.random() < (0.25 if mood == "angry" else 0.12):
            text = typo(r, text)
        if r.random() < 0.10:
            text = text.replace("you're", "your").replace("don't", "dont") \
                       .replace("can't", "cant").replace("I'm", "im")
        if r.random() < 0.18:
            text = lower_keep_links(text)
        if mood == "angry" and r.random() < 0.2:
            text += " " + r.choice(NEG_EMOJI) * r.randint(1, 3)
        elif mood == "happy" and r.random() < 0.25:
            text += " " + r.choice(POS_EMOJI)
        if r.random() < 0.05:
            text += r.choice([" lol", " smh", " ugh", " tbh", " fr", ""])
        return text


# --------------------------------------------------------------------------
# Templates. {brand} is how people name Acme (handle or name); {name} is the
# plain name where a handle would read oddly.

ACME_CHATTER = [
    "Boarding {brand} flight {flight} to {city} {neu}",
    "window seat secured on {brand}, see you soon {city} {neu}",
    "Back in {city} after a week away. {brand} got me here on time, no complaints",
    "{name} flight attendant just did the safety demo in rhyme. we are all awake now",
    "Sitting at gate {gate} in {code} waiting for the {name} flight to {city2}. coffee #3 {neu}",
    "my dad has flown {name} every thursday for 20 years and he still calls it 'the new airline'",
    "does {name} do open seating or assigned? I genuinely can't remember and I fly them monthly",
    "landed in {city} on {brand}. cold. why did I leave {city2}",
    "First flight ever on {name} today, wish me luck {neu}",
    "{brand} playlist at boarding was all 80s power ballads and honestly? iconic",
    "Tuesday 6am {name} flight out of {code} is a personality test",
    "the {name} snack mix is the only reason I book them. the pretzels are elite",
    "Took {brand} {code}-{code2} with the kids. Survived. That's the review.",
    "Plane spotting at {code} today, two {name} 737s in the new livery {pic}",
    "anyone else get the {name} survey email 4 minutes after landing lol",
    "{name} boarding by zones is fine until zone 3 is 90 people",
    "Flying {brand} to {city} for a wedding this weekend. suit in a carry on, pray for it {neu}",
    "overheard on the {name} shuttle: 'I've been to {city} eleven times and never seen the city'",
    "Just realised my {name} flight number is my birthday. sign? {neu}",
    "{brand} flight {flight} {code} -> {code2}, wheels up {neu}",
    "Red-eye on {name} tonight. neck pillow, hoodie, zero expectations",
    "Acme Air livery on the tail fin looks so good at sunset {pic}",
    "{name} miles finally worth something, booked {city} for ${price} + points",
    "The {name} app boarding pass finally works offline, small wins",
    "Working from the {name} lounge in {code}. wifi decent, cookies better {neu}",
]

ACME_NEWS = [
    "Acme Air adds nonstop {city}-{city2} service starting June {link}",
    "Acme Air to hire 400 flight attendants at Denver hub {link}",
    "Acme Air fares to {city} drop to ${price} in spring sale {link}",
    "Acme Air posts on-time rate of 81% in February, up from 74% {link}",
    "Acme Air pilots union says talks 'productive' {link}",
    "Acme Air rolls out new seat-back screens on A320 fleet {link}",
    "Acme Air and Globex Airways both expand at {code} as summer demand climbs {link}",
    "Acme Air changes checked bag fees for basic economy. What you need to know {link}",
    "How to get the most out of Acme Air miles in 2025 {link}",
    "Acme Air CEO: 'we are a Denver airline first' {link}",
]

ACME_QUESTIONS = [
    "does {brand} allow pets in cabin?",
    "@acmeairhelp what's the carry-on size limit for basic economy?",
    "@acmeairhelp can I add a checked bag after booking or only at the airport?",
    "anyone know if {name} lets you change flights for free now?",
    "is the {name} lounge in {code} worth it for a 3 hour layover?",
    "Has anyone flown {name} with a car seat? do they let you bring it onboard",
    "@acmeairhelp how early does bag drop open at {code}?",
    "{brand} do you have wifi on the {code}-{code2} route?",
    "Question for frequent flyers: {name} or Globex for {code}-{code2}? price is about the same",
    "@acmeairhelp is there a way to select seats for a group booking online?",
    "does {name} do standby for earlier flights same day? asking before I get to {code}",
    "@acmeairhelp can my 16 year old fly alone on {name} or is that the unaccompanied minor thing",
    "What's the deal with {name} 'Basic Plus'? is it worth the extra ${price}?",
    "{brand} when does the {city} route start, I see it in the app but can't book",
    "@acmeairhelp do I need to print anything for an international flight or is mobile ok?",
    "Anyone know which terminal {name} uses at {code}?",
]

ACME_PRAISE = [
    "shoutout to the crew on {name} flight {flight}, so kind {pos}",
    "{brand} upgraded me to the exit row for free, love you guys {pos}",
    "Huge thanks to @acmeairhelp for sorting my rebooking in 5 minutes {pos}",
    "{crew} at the {name} desk in {code} is an absolute legend. fixed everything with a smile",
    "Credit where it's due: {name} landed 25 minutes early and my bag was first out",
    "{brand} pilot came on and explained the turbulence like a calm dad. 10/10",
    "The {name} gate agent in {code} found my kid's stuffed rabbit and ran it to the plane. crying {pos}",
    "genuinely impressed with {name} today, smooth boarding, clean plane, on time {pos}",
    "{brand} thank you for the birthday announcement, my mom was SO embarrassed and happy {pos}",
    "new {name} seats are actually comfortable?? who approved this, give them a raise",
    "Flew {name} {code}-{code2} and the crew handled a medical emergency so well. respect {pos}",
    "@acmeairhelp thanks for the quick answer on the pet carrier rules, super helpful",
    "I complain a lot but {brand} has been great this month. on time every flight",
    "best customer service I've had from an airline in years, thank you @acmeairhelp {pos}",
    "{name} flight attendant {crew} gave my toddler extra cookies and wings pin. core memory {pos}",
]

# Individual complaints over the normal week: one person, one problem.
ACME_COMPLAINTS = [
    "@acmeairhelp my bag didn't arrive in {city}, {days} days and no response",
    "{brand} flight {flight} delayed {hours} hours and counting. no updates from the gate {neg}",
    "@acmeairhelp still waiting on my refund from January. case number {conf}. this is ridiculous",
    "lost my bag on {brand} {code}-{code2}. tracker says it's still in {code}. nobody answers the phone",
    "{brand} charged me twice for a seat I never got. who do I talk to?",
    "Missed my connection in {code} because {name} sat us on the tarmac for an hour. rebooked on a flight tomorrow. great",
    "Dear {brand}, a 45 minute wait at baggage claim is not ok",
    "@acmeairhelp why is my refund still not processed? it's been {days} weeks",
    "{name} cancelled my flight with a 2am text and rebooked me 2 days later. never again",
    "my seat on {brand} flight {flight} didn't recline and the tray table was broken. for ${price}",
    "@acmeairhelp your agent hung up on me twice. I just want to change a name on a ticket",
    "{brand} lost my car seat. I have a 2 year old. please call me back",
    "gate agent at {code} was so rude to an elderly man today. do better {brand}",
    "@acmeairhelp my bag came back with a broken wheel and a torn handle, how do I file a claim",
    "Paid for wifi on {brand}, didn't work the whole flight. want my money back",
    "{name} moved my seat away from my 6 year old and said 'that's the system'. unacceptable",
    "3rd delay this month on {brand}. I'm done. switching to Globex",
    "{brand} the app logged me out and lost my boarding pass again. 4th time",
    "@acmeairhelp my bag is damaged and your claim form errors out. please fix",
    "Stay away from {name} basic economy, they charged me ${price} for a backpack at the gate",
]

HELP_REPLIES = [
    "@{to} We're sorry to hear this. Please DM us your confirmation code and we'll take a look. {sig}",
    "@{to} That's not the experience we want for you. Send us a DM with your bag tag number and we'll track it down. {sig}",
    "@{to} Thanks for flagging this. Our team can help over DM, please include your case number. {sig}",
    "@{to} So sorry about the delay today. Can you DM us your flight details? {sig}",
    "@{to} Happy to help! Please DM us and we'll sort it out. {sig}",
    "@{to} Thanks for the kind words, we'll pass them on to the crew! {sig}",
]

CUSTOMER_FOLLOWUPS = [
    "@acmeairhelp DM sent. still waiting",
    "@acmeairhelp I DMed you yesterday and nothing. hello?",
    "@acmeairhelp thanks, bag found! appreciate it",
    "@acmeairhelp sent the code. 2 hours later, no reply {neg}",
]

# ----- The wave. Acme's app and website fail on a Friday afternoon; the
# Denver hub falls back to paper and cancels flights.

WAVE_ANGRY = [
    "{brand} your app has been down all afternoon and I can't check in. absolute joke {neg}",
    "{brand} THREE HOURS on hold. app crashes every time. flight cancelled. you people are a joke #acmefail",
    "never flying {brand} again. cancelled my flight and can't even get a human on the phone",
    "{name} just cancelled my flight to {city} with no notice and the rebooking line is {hours} hours. disgusting",
    "@acmeairhelp my flight {flight} got cancelled and your website won't load. what am I supposed to do??",
    "Whoever runs IT at {name} should be fired. app down, website down, flights cancelled #acmefail",
    "Stranded at {code} because {brand} can't keep an app running. worst airline in America {neg}",
    "{brand} I have been in this line at {code} for {minutes} minutes. ONE agent. ONE. #acmefail",
    "cancelled. no email, no text, found out from the board. thanks {brand} {neg}",
    "{brand} refund my money now. I am not taking a voucher for a flight YOU cancelled",
    "The {name} app says my flight is on time, the gate says cancelled, the phone line says goodbye. incredible",
    "missing my sister's wedding because {brand} can't get their act together. I'm so angry I'm shaking",
    "{brand} you cancelled my flight and now the app won't even let me see my booking #acmefail",
    "Literally hundreds of us stuck at {code} and nobody from {name} will say anything {neg}",
    "{brand} zero communication, zero help, zero accountability. this is a disgrace",
    "@acmeairhelp no response on here, no response on the phone, no response at the desk. are you even open?",
    "{name} website error 503 for two hours straight. I just want to rebook. #acmefail",
    "paid extra for 'flexible' with {brand} and there's nothing flexible when your systems are down and nobody answers",
    "{brand} I missed a job interview because of this meltdown. who pays for that?",
    "absolutely done with {name}. cancelled, no hotel, no food voucher, no info #acmefail {neg}",
    "{brand} how do you cancel the {code}-{code2} flight and then charge me ${price} to change? insane",
    "the {name} agents at {code} are doing their best but management left them with nothing. shameful",
    "day ruined. {brand} cancelled {flight}, app is dead, phone queue {hours} hours. I want a refund",
    "{brand} fix your app. I've tried to check in 20 times. error every time {neg}",
    "worst travel day of my life courtesy of {brand} #acmefail",
]

WAVE_POLITE = [
    "Hi @acmeairhelp, my flight {flight} to {city} was cancelled and the app gives me an error when I try to rebook. Could you please help? Conf {conf}",
    "@acmeairhelp hello, I understand there's an outage but my flight was cancelled and I have a connection tomorrow. Any advice? Thank you",
    "@acmeairhelp could someone please DM me? Flight {flight} cancelled, can't get through on the phone, travelling with two kids",
    "Hi {brand}, I know you're having a tough day but I've been on hold {hours} hours. Is there another way to rebook?",
    "@acmeairhelp I can't check in online and the kiosk at {code} says see agent. The line is enormous. Is there anything I can do?",
    "@acmeairhelp Hi, my refund request form keeps failing with an error. Flight {flight} was cancelled today. Thanks for any help",
    "{brand} not trying to be rude, just need to know if flight {flight} to {city} tonight is still happening? the app won't load",
    "@acmeairhelp Please could you rebook me on the next {code}-{code2}? Conf {conf}. Original flight was cancelled this afternoon",
    "Hello @acmeairhelp, my elderly mother is stranded at {code} after a cancellation and doesn't have a phone that can use the app. Can you help?",
    "@acmeairhelp hi, I was charged for a flight that was then cancelled. how do I get my money back? thank you",
]

WAVE_QUESTIONS = [  # questions that report the failure
    "is the {name} app down for anyone else?? can't log in",
    "why is the {brand} website still not loading?",
    "anyone at {code} right now? are {name} flights going out or is everything cancelled?",
    "{brand} why is my flight showing cancelled when nobody told me anything?",
    "@acmeairhelp how long until the app is back? my flight is in 2 hours and I can't check in",
    "why can't I get my boarding pass from {brand}?? the app just spins",
]

# The two texts people copied and pasted from a group chat.
COPYPASTE = [
    "@acmeair @acmeairhelp My flight today was cancelled with NO notice and your app won't let me rebook. I want a full refund, not a voucher. Do better. #acmefail",
    "Dear @acmeairhelp, I have been on hold for {hours} hours. Your app is down, your website is down, and my flight is cancelled. Please respond. #acmefail",
]

WAVE_OTHER = [  # not complaints: news, jokes, sympathy, onlookers
    "Acme Air hit by IT outage; dozens of flights cancelled at Denver {link}",
    "BREAKING: Acme Air says a 'technical issue' is affecting its app, website and check-in {link}",
    "Acme Air outage: what to do if your flight was cancelled {link}",
    "glad I flew {name} yesterday and not today lol",
    "thoughts and prayers to everyone at {code} with {name} right now",
    "the {name} gate agents today deserve a raise and a nap",
    "watching the {name} departures board at {code} turn red one row at a time",
    "{name} having a day. hope everyone gets home",
    "Globex must be loving this {name} outage lol",
    "pro tip if your {name} flight was cancelled: call the international line, way shorter wait",
]

OWNED_WAVE = [
    ("acmeair", "We're experiencing a technical issue affecting our app, website and airport check-in. Our teams are working on it and we'll share updates here. We're sorry for the disruption."),
    ("acmeairhelp", "We know many of you are waiting to hear from us. Our phone and chat queues are very long right now. If your flight was cancelled you can request a refund once the app is back; you will not lose that option."),
    ("acmeair", "Update: flights departing Denver this afternoon are delayed or cancelled while we restore our systems. Customers on cancelled flights can rebook for free or get a full refund."),
    ("acmeair", "Our app and website are back up. Thank you for your patience, and again, we're sorry. Customers on cancelled flights can rebook or request a refund in the app."),
]

# ----- The viral complaint.

VIRAL_TEXT = ("Stuck on the tarmac in Denver for 3 hours on @acmeair flight 417. "
              "No water, no updates, a baby crying two rows back and the crew "
              "clearly as frustrated as we are. This is not ok. @acmeairhelp "
              "I want an explanation and a refund.")
VIRAL_AUTHOR = {"author": "jennaflies", "source": "twitter", "followers": 1240000}

VIRAL_REPLIES = [
    "@jennaflies @acmeair this is awful, hope you get home soon",
    "@jennaflies same thing happened to me last month with {brand}. 2 hours, no water",
    "@jennaflies @acmeair 3 hours with a baby on board?? that's dangerous",
    "@jennaflies they did this to me in {code} too. they never refunded a cent",
    "@jennaflies @acmeairhelp answer her!!",
    "@jennaflies isn't there a rule about tarmac delays? you should get compensation",
    "@jennaflies stay safe Jenna. {brand} needs to explain this",
    "@jennaflies I'm on that flight too. row {row}. it's bad",
]

VIRAL_NEWS = [
    "Travel writer's three-hour tarmac wait on Acme Air flight goes viral {link}",
    "Acme Air apologises after passengers held on Denver tarmac for three hours {link}",
    "The Jenna Park tarmac thread and what the rules say about delays on Acme Air {link}",
]

# ----- Globex.

GLOBEX_CHATTER = [
    "Boarding {gbrand} flight {gflight} to {city} {neu}",
    "{gbrand} or Acme Air to {city}? {gbrand} is $20 cheaper",
    "first time on {gbrand}. the purple seats are a choice",
    "Globex Airways adds second daily flight to {city} {link}",
    "{gbrand} boarding was quick today, nice",
    "{gbrand} lounge at {code} is tiny but the coffee is good {neu}",
    "Globex Airways fares from {code} to {city2} from ${price} {link}",
    "plane spotting: {gbrand} A321 on final at {code} {pic}",
    "{gbrand} safety video has a dog in it. that's it that's the tweet",
    "Flying {gbrand} home for the weekend #globex {neu}",
]

GLOBEX_QUESTIONS = [
    "does {gbrand} charge for carry-ons?",
    "@globexair can I bring a guitar as a carry on?",
    "anyone know if Globex Airways flies to {city2} nonstop from {code}?",
    "@globexair how do I add my frequent flyer number after booking?",
]

GLOBEX_PRAISE = [
    "{gbrand} crew on flight {gflight} were so lovely {pos}",
    "shoutout to {gbrand} for the smoothest boarding ever",
    "{gbrand} rebooked me in 2 minutes at the desk. that's how it's done {pos}",
    "honestly {gbrand} has been great lately #globex",
]

GLOBEX_COMPLAINTS = [
    "@globexair flight {gflight} delayed {hours} hours, no explanation",
    "{gbrand} lost my bag in {city}. hello??",
    "@globexair still waiting for my refund, it's been {days} weeks",
    "{gbrand} seats are so cramped my knees are in my chest {neg}",
]

GLOBEX_WIFI = [
    "{gbrand} free wifi that actually works?? {pos}",
    "streaming a movie at 35,000 ft for free on {gbrand}. what year is it {pos}",
    "just sent 40 slack messages from a {gbrand} flight without paying a cent. my boss is confused {pos}",
    "free, fast wifi on {gbrand} and no login page. love this #globex",
    "ok {gbrand} free wifi is a game changer, switching my work trips",
    "{gbrand} wifi on flight {gflight} {code}-{code2}: 40 Mbps. FREE. {pos}",
    "Globex Airways free wifi is the best airline news of the year #globex",
    "this is how you win customers @globexair {pos}",
    "@globexair thank you for the free wifi, made a 4 hour flight fly by",
    "FaceTimed my kids from the sky on {gbrand} for free. genuinely emotional {pos}",
    "@acmeair take notes: {gbrand} just made wifi free",
    "Globex free wifi review: it works, it's fast, it's free. that's the review #globex",
]

GLOBEX_WIFI_NEWS = [
    "Globex Airways makes in-flight Wi-Fi free on every flight {link}",
    "Globex free Wi-Fi: how it works and which planes have it {link}",
]

NOISE = [  # "acme" that is not the airline
    "ordered another anvil from ACME, they never learn",
    "acme corp vibes at the hardware store today",
    "Wile E. Coyote's loyalty to ACME products is the real love story",
    "my startup's placeholder name was Acme Inc and now it's on the invoices",
    "ACME rocket skates would solve my commute",
]

OTHER_LANG = [
    ("es", "{brand} perdieron mi maleta en {city} y nadie responde {neg}", "complaint"),
    ("es", "volando con Acme Air a Cancún {neu} #acmeair", "chatter"),
    ("es", "gracias {brand} por el buen servicio, tripulación increíble {pos}", "praise"),
    ("fr", "vol annulé avec {brand}, aucune info… #acmefail", "complaint"),
    ("es", "¿{brand} permite mascotas en cabina?", "question"),
]


# --------------------------------------------------------------------------
# Small helpers.

def base36(n):
    s = ""
    while n:
        n, d = divmod(n, 36)
        s = "0123456789abcdefghijklmnopqrstuvwxyz"[d] + s
    return s or "0"


def fmt_time(ms, style):
    t = datetime.fromtimestamp(ms / 1000, tz=UTC)
    if style == "ms":  # X and Mastodon: milliseconds and Z
        return t.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (ms % 1000)
    return t.strftime("%Y-%m-%dT%H:%M:%S+00:00")  # Reddit, converted from created_utc


def slugify(text):
    words = []
    for w in text.lower().split():
        w = "".join(c for c in w if c.isascii() and c.isalnum())
        if w:
            words.append(w)
        if len(words) == 8:
            break
    return "_".join(words) or "post"


def typo(r, text):
    """One slip of the finger in a plain word (never in a handle, hashtag
    or link, which people copy rather than type, nor in a brand name, so
    that which posts a query should find stays easy to count)."""
    words = text.split(" ")
    cand = [i for i, w in enumerate(words)
            if len(w) >= 5 and w.isalpha() and w.isascii()
            and w.lower() not in ("globex", "airways")]
    if not cand:
        return text
    i = r.choice(cand)
    w = words[i]
    j = r.randint(1, len(w) - 2)
    kind = r.random()
    if kind < 0.4:
        w = w[:j] + w[j + 1] + w[j] + w[j + 2:]  # swapped letters
    elif kind < 0.7:
        w = w[:j] + w[j + 1:]  # dropped letter
    else:
        w = w[:j] + w[j] + w[j:]  # doubled letter
    words[i] = w
    return " ".join(words)


def redditize(text):
    """Reddit has no @handles and few hashtags: people write the name."""
    for handle, name in (("@acmeairhelp", "Acme Air support"), ("@acmeair", "Acme Air"),
                         ("@AcmeAir", "Acme Air"), ("@globexair", "Globex"),
                         ("@GlobexAir", "Globex")):
        text = text.replace(handle, name)
    for tag in ("#acmefail", "#acmeair", "#AcmeAir", "#globex", "#Globex", "#travel",
                "#aviation"):
        text = text.replace(" " + tag, "")
    return text


def lower_keep_links(text):
    return " ".join(w if w.startswith("http") else w.lower() for w in text.split(" "))


def poisson(r, lam):
    """Knuth's method; lam stays small here (at most a few dozen)."""
    if lam <= 0:
        return 0
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= r.random()
        if p <= limit:
            return k
        k += 1


def hour_rate(per_day, t):
    local = t + timedelta(hours=LOCAL_OFFSET_H)
    return per_day / sum(HOUR_WEIGHT) * HOUR_WEIGHT[local.hour] * DAY_WEIGHT[local.weekday()]


def times_in(r, start, minutes, n, shape):
    """n event times in [start, start+minutes), drawn from a shape function
    over [0, 1) by rejection (shape values in [0, 1])."""
    out = []
    while len(out) < n:
        x = r.random()
        if r.random() <= shape(x):
            out.append(start + timedelta(seconds=x * minutes * 60))
    return sorted(out)


def wave_shape(x):
    """Complaint wave over 300 minutes: a 40-minute climb, an hour at the
    top, a slow fall, and a long evening tail."""
    m = x * 300
    if m < 40:
        return 0.15 + 0.85 * m / 40
    if m < 100:
        return 1.0
    if m < 185:
        return 1.0 - 0.8 * (m - 100) / 85
    return 0.2 * math.exp(-(m - 185) / 50)


def decay_shape(x):
    return math.exp(-4 * x)


def bump_shape(x):
    return math.sin(math.pi * x) ** 1.5


# --------------------------------------------------------------------------
# The week.

def baseline(g):
    """Seven ordinary days for both brands."""
    r = g.r
    acme_mix = [("chatter", ACME_CHATTER, 0.34, "neutral"),
                ("news", ACME_NEWS, 0.03, "neutral"),
                ("question", ACME_QUESTIONS, 0.18, "neutral"),
                ("praise", ACME_PRAISE, 0.22, "happy"),
                ("complaint", ACME_COMPLAINTS, 0.16, "angry"),
                ("other_lang", None, 0.03, "neutral"),
                ("noise", NOISE, 0.01, "neutral")]
    globex_mix = [("chatter", GLOBEX_CHATTER, 0.46, "neutral"),
                  ("question", GLOBEX_QUESTIONS, 0.16, "neutral"),
                  ("praise", GLOBEX_PRAISE, 0.22, "happy"),
                  ("complaint", GLOBEX_COMPLAINTS, 0.16, "angry")]
    for h in range(DAYS * 24):
        t0 = START + timedelta(hours=h)
        for brand, per_day, mix in (("acme", ACME_PER_DAY, acme_mix),
                                    ("globex", GLOBEX_PER_DAY, globex_mix)):
            n = poisson(r, hour_rate(per_day, t0))
            for _ in range(n):
                t = t0 + timedelta(seconds=r.random() * 3600)
                kind, tpls, _, mood = r.choices(mix, [m[2] for m in mix])[0]
                emit_baseline(g, brand, kind, tpls, mood, t)


def emit_baseline(g, brand, kind, tpls, mood, t):
    r = g.r
    tag = "%s_%s" % (brand, kind)
    if kind == "news":
        who = r.choice(NEWS_ACCOUNTS)
        g.post(t, g.fill(r.choice(tpls)), who, tag)
        return
    if kind == "other_lang":
        lang, tpl, sub = r.choice(OTHER_LANG)
        g.post(t, g.fill(tpl), g.person(r.choice(["twitter", "mastodon"])),
               "acme_%s_%s" % (sub, lang), lang=lang)
        return
    who = g.person()
    text = g.fill(r.choice(tpls))
    if who["source"] == "mastodon" and r.random() < 0.5:
        # Mastodon people tag posts, often in CamelCase.
        hashtag = r.choice(["#AcmeAir", "#acmeair", "#travel", "#aviation"]
                           if brand == "acme" else ["#Globex", "#travel"])
        if hashtag.lower() not in text.lower():
            text += " " + hashtag
    elif kind == "complaint" and brand == "acme" and r.random() < 0.2:
        text += " #acmefail"
    text = g.roughen(text, mood)
    reply_to = None
    if who["source"] != "reddit" and r.random() < 0.08:
        reply_to = g.fake_parent_id(who["source"], t)
    m = g.post(t, text, who, tag, reply_to=reply_to)
    # The help account answers some complaints and questions on X.
    if brand == "acme" and who["source"] == "twitter" and kind in ("complaint", "question", "praise") \
            and r.random() < {"complaint": 0.4, "question": 0.3, "praise": 0.1}[kind]:
        help_reply(g, m, t, thanks=(kind == "praise"))


def help_reply(g, m, t, thanks=False):
    r = g.r
    delay = timedelta(minutes=min(600, r.lognormvariate(3.3, 0.8)))
    tpl = HELP_REPLIES[-1] if thanks else r.choice(HELP_REPLIES[:-1])
    text = tpl.format(to=m["author"], sig=r.choice(HELP_SIGNOFF))
    reply = g.post(t + delay, text, HELP, "owned_reply", reply_to=m["id"])
    if not thanks and r.random() < 0.25:
        later = t + delay + timedelta(minutes=r.randint(20, 400))
        who = {"author": m["author"], "source": "twitter", "followers": m["followers"]}
        text = g.fill(r.choice(CUSTOMER_FOLLOWUPS))
        tag = "acme_praise" if "found" in text else "acme_complaint_followup"
        g.post(later, text, who, tag, reply_to=reply["id"])


def viral(g):
    """The tarmac complaint from a big account, then the echo."""
    r = g.r
    g.post(VIRAL_AT, VIRAL_TEXT, VIRAL_AUTHOR, "viral_post_complaint",
           counts=(18420, 5230, 1104))
    root = [p for p in g.posts if p[2]["author"] == "jennaflies"][-1][2]
    rt_prefix = "RT @jennaflies: "
    rt_text = rt_prefix + VIRAL_TEXT
    if len(rt_text) > 140:  # old-style retweets are cut with an ellipsis
        rt_text = rt_text[:139].rstrip() + "…"
    rts = g.fresh_people(34, (1.0, 0.0, 0.0))
    for t, who in zip(times_in(r, VIRAL_AT + timedelta(minutes=3), 200, len(rts), decay_shape), rts):
        g.post(t, rt_text, who, "viral_rt", counts=(0, 0, 0))
    reps = g.fresh_people(22, (0.85, 0.15, 0.0))
    for t, who in zip(times_in(r, VIRAL_AT + timedelta(minutes=2), 240, len(reps), decay_shape), reps):
        g.post(t, g.roughen(g.fill(r.choice(VIRAL_REPLIES)), "angry"), who,
               "viral_reply_complaint", reply_to=root["id"])
    g.post(VIRAL_AT + timedelta(minutes=22, seconds=9),
           "@jennaflies We're so sorry, Jenna. Nobody should wait that long without water or updates. "
           "We're looking into flight 417 now and will DM you. ^KR",
           HELP, "owned_reply", reply_to=root["id"], counts=(212, 9, 640))
    for i, tpl in enumerate(VIRAL_NEWS):
        t = VIRAL_AT + timedelta(hours=9 + 2.5 * i, minutes=r.randint(0, 50))
        g.post(t, g.fill(tpl), NEWS_ACCOUNTS[i], "acme_news")


def wave(g):
    """Friday afternoon: the outage and the complaint wave."""
    r = g.r
    plan = ([("wave_complaint_angry", WAVE_ANGRY, "angry")] * 128
            + [("wave_complaint_polite", WAVE_POLITE, "polite")] * 62
            + [("wave_complaint_question", WAVE_QUESTIONS, "angry")] * 34
            + [("wave_other", WAVE_OTHER, "neutral")] * 30)
    people = g.fresh_people(len(plan))
    times = times_in(r, WAVE_AT, 300, len(plan), wave_shape)
    r.shuffle(plan)
    for t, who, (tag, tpls, mood) in zip(times, people, plan):
        if tag == "wave_other" and r.random() < 0.4:
            who = r.choice(NEWS_ACCOUNTS)
            text = g.fill(r.choice(WAVE_OTHER[:3]))
        else:
            text = g.fill(r.choice(tpls))
            if mood == "angry" and r.random() < 0.3 and "#acmefail" not in text:
                text += " #acmefail"
            text = g.roughen(text, mood)
        g.post(t, text, who, tag)

    # The copy-paste campaign: many people, the same words, half an hour.
    for k, (tpl, n, offset) in enumerate(((COPYPASTE[0], 64, 52), (COPYPASTE[1], 28, 70))):
        people = g.fresh_people(n, (0.9, 0.1, 0.0))
        times = times_in(r, WAVE_AT + timedelta(minutes=offset), 35, n, bump_shape)
        for t, who in zip(times, people):
            # Pasted, so the details stay those of whoever wrote it first.
            text = copy_variant(r, g.fill(tpl, hours="2"))
            g.post(t, text, who, "wave_complaint_copypaste%d" % (k + 1))

    # A Reddit thread collects people comparing notes.
    thread_t = WAVE_AT + timedelta(minutes=31)
    op = {"author": "throwaway_den_flyer", "source": "reddit", "followers": 0}
    root = g.post(thread_t, "Acme Air app and website down, flights cancelled at DEN?\n\n"
                  "Standing at the Acme Air counter in B concourse, the line goes past the "
                  "Starbucks. Agents say their systems are down too. Anyone know what's going on?",
                  op, "wave_complaint_question", subreddit="Denver", counts=(412, 0, 187))
    comments = [
        "Same here. Flight to Boise cancelled, no notification. Acme Air phone line hangs up after 40 minutes.",
        "Was supposed to fly to Austin at 3. Gate agent said they're writing boarding passes by hand lol",
        "Their status page says 'degraded performance'. That's one way to put it",
        "If you booked through a card with trip insurance, keep every receipt. Acme Air owes you a hotel if they cancelled.",
        "I've been on hold with Acme Air for 2 hours 10 minutes. Still waiting.",
        "Got rebooked on Globex by going to their counter and paying. Not cheap but I'm getting home.",
        "Heard it's a vendor outage. Doesn't help the people sleeping on the floor tonight.",
        "Acme Air just posted that the app is back. Mine still won't load my booking.",
        "this is the third time this year acme air has done this. never again",
        "Staff are handing out water and snacks at B34 at least. Be nice to them, it's not their fault.",
    ]
    people = g.fresh_people(len(comments), (0.0, 0.0, 1.0))
    times = times_in(r, thread_t + timedelta(minutes=4), 220, len(comments), decay_shape)
    for t, who, text in zip(times, people, comments):
        tag = "wave_other" if any(s in text for s in ("Staff", "vendor", "insurance", "status page")) \
            else "wave_complaint_reddit"
        g.post(t, text, who, tag, reply_to=root["id"], subreddit="Denver")

    # What the brand says, and its help account drowning in replies.
    for (who, text), minutes in zip(OWNED_WAVE, (26, 58, 94, 188)):
        acct = ACME_OWNED if who == "acmeair" else HELP
        g.post(WAVE_AT + timedelta(minutes=minutes), text, acct, "owned_status",
               counts=(r.randint(300, 900), r.randint(200, 700), r.randint(800, 2500)))
    wave_posts = [p for p in g.posts
                  if p[1].startswith("wave_complaint") and p[2]["source"] == "twitter"]
    for ms, _, m in r.sample(wave_posts, 26):
        help_reply(g, m, datetime.fromtimestamp(ms / 1000, tz=UTC))


def copy_variant(r, text):
    """People paste the same message but rarely exactly: a flight number
    added, a word dropped, a different tail."""
    if r.random() < 0.3:
        text = text.replace("My flight today", "My flight %d today" % r.randint(100, 2999))
    if r.random() < 0.25:
        text = text.replace(" Do better.", "")
    if r.random() < 0.2:
        text = text.replace("NO notice", "no notice")
    if r.random() < 0.2:
        text = text.replace("@acmeair @acmeairhelp ", "@acmeairhelp @acmeair ")
    if r.random() < 0.25:
        text += " " + r.choice(NEG_EMOJI)
    if r.random() < 0.1:
        text += " RT if this happened to you"
    return text


def globex_wifi(g):
    """Saturday: Globex makes Wi-Fi free; people are delighted."""
    r = g.r
    g.post(GLOBEX_AT, "Free, fast Wi-Fi on every Globex flight starts today. No login, no catch. "
           "Stream, work, FaceTime home. #globex", GLOBEX_OWNED, "globex_owned",
           counts=(3210, 904, 388))
    n = 92
    people = g.fresh_people(n)
    times = times_in(r, GLOBEX_AT + timedelta(minutes=5), 150, n, bump_shape)
    for t, who in zip(times, people):
        text = g.roughen(g.fill(r.choice(GLOBEX_WIFI)), "happy")
        tag = "globex_wifi_praise_vs_acme" if "@acmeair" in text else "globex_wifi_praise"
        g.post(t, text, who, tag)
    for i, tpl in enumerate(GLOBEX_WIFI_NEWS):
        g.post(GLOBEX_AT + timedelta(minutes=40 + 55 * i), g.fill(tpl), NEWS_ACCOUNTS[i + 2],
               "globex_news")


HELP = {"author": "acmeairhelp", "source": "twitter", "followers": 41200}
ACME_OWNED = {"author": "acmeair", "source": "twitter", "followers": 182000}
GLOBEX_OWNED = {"author": "globexair", "source": "twitter", "followers": 96400}
NEWS_ACCOUNTS = [
    {"author": "skyfarenews", "source": "twitter", "followers": 210000},
    {"author": "aerodaily", "source": "twitter", "followers": 58300},
    {"author": "denvertribune", "source": "twitter", "followers": 144000},
    {"author": "travelwire@journa.host", "source": "mastodon", "followers": 22800},
    {"author": "gatechange_news", "source": "twitter", "followers": 88100},
]


def summarize(g, out):
    by_tag = {}
    for _, tag, _ in g.posts:
        key = tag.split("_")[0] + "_" + tag.split("_")[1] if "_" in tag else tag
        by_tag[key] = by_tag.get(key, 0) + 1
    print("mentions: %d" % len(g.posts), file=out)
    for k in sorted(by_tag):
        print("  %-28s %5d" % (k, by_tag[k]), file=out)
    wave_c = [p for p in g.posts if p[1].startswith("wave_complaint")]
    t0 = int(WAVE_AT.timestamp() * 1000)
    in3h = [p for p in wave_c if t0 <= p[0] < t0 + 3 * 3600 * 1000]
    print("wave complaints: %d in all, %d within 3 h of %s" % (
        len(wave_c), len(in3h), WAVE_AT.isoformat()), file=out)
    src = {}
    for _, _, m in g.posts:
        src[m["source"]] = src.get(m["source"], 0) + 1
    print("sources: %s" % ", ".join("%s %d" % kv for kv in sorted(src.items())), file=out)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=20250307,
                    help="random seed; the default gives the committed file")
    ap.add_argument("--out", default=os.path.join(here, "acme-mentions.ndjson"),
                    help="output file, or - for stdout")
    args = ap.parse_args()

    g = Gen(args.seed)
    baseline(g)
    viral(g)
    wave(g)
    globex_wifi(g)

    end_ms = int((START + timedelta(days=DAYS)).timestamp() * 1000)
    posts = [p for p in g.posts if p[0] < end_ms]  # late replies past the week
    # Newest first, like a platform export; ties broken by id so the file
    # is identical on every run.
    posts.sort(key=lambda p: (p[0], p[2]["id"]), reverse=True)
    g.posts = posts
    lines = [json.dumps(m, ensure_ascii=False, separators=(", ", ": ")) for _, _, m in posts]
    data = "\n".join(lines) + "\n"
    if args.out == "-":
        sys.stdout.write(data)
    else:
        with open(args.out, "w", encoding="utf-8", newline="\n") as f:
            f.write(data)
    summarize(g, sys.stderr)


if __name__ == "__main__":
    main()
