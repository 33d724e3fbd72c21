"""Apps a question can name that the FAQ does cover, but not in every entry.

"VNeID" is the most common word of the FAQ, so the ranking gives it almost no weight: "nhập sai mật khẩu nhiều lần
bị khóa VNeID" would be answered by the bank app's entry, which shares every other word. The bank app is the same
case the other way round: "quên passcode ngân hàng" would be answered by the VNeID passcode entry. When a question
names one or more of these apps, an entry about an app or service that mentions none of them is treated as for
another subject (see faq/tables/out_of_scope.py). Entries of the generic domains (using a phone, checking official
news, the movement) hold whatever app is named.

Many VNeID entries mention banks (linking an account, receiving benefits), and residents ask about VNeID without
naming it ("làm định danh mức 2 có cần tài khoản ngân hàng không"). So an entry is kept when it mentions any app
the question names, or any app whose `topic` words the question uses; `topic` words never make an app named
themselves, so a question without an app's name is ranked as before.

Phrases are normalised like the FAQ and matched as phrases ("hàng" alone is also "khách hàng", "mua hàng"); "nh" is
already "ngân hàng" after the abbreviation table. An entry mentions an app when its title, phrasings, keywords or
synonyms hold one of its `names`, or when it belongs to the app's own `domain` (a payment entry on scams need not
say "ngân hàng").
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final, NamedTuple

from faq.tables.abbreviations import BANK_BRANDS


class App(NamedTuple):
    names: tuple[str, ...]  # how residents name it
    topic: tuple[str, ...]  # words of questions about it that do not name it
    domain: str  # whose entries are all about it, whether or not they name it
    overview: str = ""  # the entry saying what the app is, offered when a question asks "<name> là (app) gì"


NAMED_APPS: Final = MappingProxyType(
    {
        "vneid": App(
            names=("vneid",),
            topic=("định danh", "mức 1", "mức 2", "ví giấy tờ", "căn cước điện tử"),
            domain="vneid",
            overview="vneid.overview",
        ),
        "ngân hàng": App(
            names=(
                "ngân hàng",
                "nganhang",
                "bank",
                "banking",
                "ibanking",
                "atm",
                *BANK_BRANDS,  # a bank named by its brand is the bank app
            ),
            topic=(),
            domain="payment",
        ),
    }
)
GENERIC_DOMAINS: Final = frozenset(["digital-skills"])

# How a question asks what an app is, right after its name ("VNeID là phần mềm gì vậy, tụi nhỏ nhắc hoài"). The app's
# name weighs almost nothing in the ranking, so such a question, with its chatter, can fall below the level at which
# entries are offered; its overview entry is then offered first.
WHAT_IS: Final = ("là gì", "là app gì", "là ứng dụng gì", "là phần mềm gì", "là cái gì", "là cái app gì", "là sao")
