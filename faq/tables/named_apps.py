"""Apps a question can name that the FAQ does cover, but not in every entry.

"VNeID" is the most common word of the FAQ, so the ranking gives it almost no weight: "nhập sai mật khẩu nhiều lần
bị khóa VNeID" would be answered by the bank app's entry, which shares every other word. When a question names one
of these apps, an entry about another app or service that never mentions it is treated as for another subject (see
faq/tables/out_of_scope.py). Entries of the generic domains (using a phone, checking official news, the movement)
hold whatever app is named. Words as they are written without diacritics, which is how residents type app names.
"""

from __future__ import annotations

from typing import Final

NAMED_APPS: Final = frozenset(["vneid"])
GENERIC_DOMAINS: Final = frozenset(["digital-skills"])
