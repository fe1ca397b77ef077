"""Partner names a person cannot be fooled by: refused characters, look-alike keys, the certificate's name.

Look-alike detection is the *skeleton* of Unicode Technical Standard #39, computed by ICU's SpoofChecker
(the reference implementation, with the Unicode Consortium's confusables data) rather than by tables kept
here.
"""

from __future__ import annotations

import unicodedata

import icu  # type: ignore[import-untyped]  # PyICU ships no type information
from cryptography import x509
from cryptography.x509.oid import NameOID

from icspa_desktop.domain.errors import RefusedInput, _

# Bidirectional-text controls: embeddings, overrides, isolates and marks (UAX #9). They reorder what is
# shown, so a name or a contact could read differently from what it is.
BIDI_CONTROLS = frozenset({0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)})
# Zero-width non-joiner and joiner are format characters too, but Persian and Indic scripts need them to
# spell words; the skeleton ignores them, so they cannot make two names look different.
_SPELLING_JOINERS = frozenset({0x200C, 0x200D})
_KIND = {"Cc": "a control character", "Cf": "an invisible formatting character", "Zl": "a line separator",
         "Zp": "a paragraph separator", "Co": "a private-use character", "Cs": "a lone surrogate",
         "Cn": "an unassigned code point"}


def code_point(char: str) -> str:
    """``U+202E (RIGHT-TO-LEFT OVERRIDE)``; controls have no character name, only the code."""
    name = unicodedata.name(char, "")
    return f"U+{ord(char):04X}" + (f" ({name})" if name else "")


def refused_character(char: str) -> str | None:
    """Why ``char`` may not appear in a name, country, unit or contact, or None if it may."""
    point = ord(char)
    if point in BIDI_CONTROLS:
        return "a bidirectional-text control"
    if point == 0x1B or point == 0x9B:
        return "an escape character"
    if point in _SPELLING_JOINERS:
        return None
    return _KIND.get(unicodedata.category(char))


def check_text(text: str, what: str) -> None:
    """RefusedInput naming the first refused character in ``text`` and its position (1 = first)."""
    for position, char in enumerate(text, 1):
        kind = refused_character(char)
        if kind is not None:
            raise RefusedInput(_("{what} contains {code_point}, {kind}, at position {position}; control, "
                                 "bidirectional-override and escape characters are not allowed.",
                                 what=_(what), code_point=code_point(char), kind=kind, position=position))


def shown(text: str) -> str:
    """``text`` safe to print in a message: every refused character written as its ``U+XXXX`` code."""
    return "".join(f"<U+{ord(c):04X}>" if refused_character(c) else c for c in text)


def folded(text: str) -> str:
    """NFKC, case folded, white space collapsed: equal for names that differ only in case, width or spacing."""
    return " ".join(unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold()).split())


def lookalike_keys(name: str) -> frozenset[str]:
    """Keys that two names share when a reader could take one for the other (UTS #39 skeleton).

    Case folding is applied before and, separately, after the skeleton, because neither order alone catches
    both "BIG"/"big" (the skeleton maps capital I to l) and "ВКА"/"bka" (it maps Cyrillic capitals to Latin
    capitals but Cyrillic small letters to small capitals). Names clash when their key sets intersect.
    """
    checker = icu.SpoofChecker()
    plain = " ".join(unicodedata.normalize("NFKC", name).split())
    by_case = checker.getSkeleton(0, folded(plain))
    by_shape = checker.getSkeleton(0, checker.getSkeleton(0, plain).casefold())
    return frozenset({str(by_case), str(by_shape)})


def looks_alike(a: str, b: str) -> bool:
    return bool(lookalike_keys(a) & lookalike_keys(b))


def certificate_names(cert: x509.Certificate) -> list[str]:
    """The names the certificate's subject gives the agency: its O= and CN= values, in that order."""
    found: list[str] = []
    for oid in (NameOID.ORGANIZATION_NAME, NameOID.COMMON_NAME):
        found += [attr.value for attr in cert.subject.get_attributes_for_oid(oid) if isinstance(attr.value, str)]
    return list(dict.fromkeys(found))  # self-signed agency certificates repeat the name in O= and CN=


def check_card_matches_certificate(untrusted_name: str, untrusted_country: str, cert: x509.Certificate) -> None:
    """RefusedInput unless the card's name is its certificate's O= or CN= (case, width and spacing aside),
    and its country the certificate's C= where the certificate has one."""
    names = certificate_names(cert)
    if not names:
        raise RefusedInput(_("The agency card's certificate names no organisation (no O= or CN= in its subject), so "
                             "the agency name on the card cannot be checked against it."))
    if folded(untrusted_name) not in {folded(n) for n in names}:
        issued_to = " / ".join(f'"{shown(n)}"' for n in names)
        raise RefusedInput(_("The agency card names the agency \"{shown}\", but its certificate is issued to "
                             "{issued_to}; a card must carry the name its certificate gives the agency.",
                             shown=shown(untrusted_name), issued_to=issued_to))
    countries = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.COUNTRY_NAME)
                 if isinstance(a.value, str)]
    if countries and untrusted_country.upper() not in {c.upper() for c in countries}:
        raise RefusedInput(_("The agency card gives the country \"{shown}\", but its certificate gives \"{other}\".",
                             shown=shown(untrusted_country), other=shown(countries[0])))
