"""Markings in the CASE/UCO export (``uco-core:objectMarking``): UCO 1.x / CASE 1.5 have no TLP class
(ucoProject/UCO#646 is an open proposal), so the TLP label is a ``StatementMarking`` and the Europol handling
code a ``TermsOfUseMarking`` (the 4x4 evaluation another ``StatementMarking``), each in a
``MarkingDefinition`` with an IRI that is the same in every export (like STIX's fixed TLP marking ids), so
that partners can match them.
"""

from __future__ import annotations

from collections.abc import Sequence

from icspa_desktop.domain.enums import HandlingCode, Tlp
from icspa_desktop.domain.evidence import Markings
from icspa_desktop.reports.uco_graph import Graph, refs

MARKING = "uco-marking:MarkingDefinition"
_MARKING_BASE = "urn:icspa:"  # marking definitions are the same in every vault's export

# FIRST TLP 2.0 (https://www.first.org/tlp/), least to most restrictive.
_TLP_MEANINGS = {
    Tlp.CLEAR: "Recipients can spread this to the world, there is no limit on disclosure.",
    Tlp.GREEN: "Limited disclosure, recipients can spread this within their community.",
    Tlp.AMBER: "Limited disclosure, recipients can only spread this on a need-to-know basis within their "
               "organization and its clients.",
    Tlp.AMBER_STRICT: "Limited disclosure, restricted to the organization only.",
    Tlp.RED: "For the eyes and ears of individual recipients only, no further disclosure.",
}
_TLP_ORDER = list(_TLP_MEANINGS)
_HANDLING_MEANINGS = {
    HandlingCode.H0: "use for crime prevention and combating only",
    HandlingCode.H1: "no use in judicial proceedings without the provider's permission",
    HandlingCode.H2: "no dissemination without the provider's permission",
    HandlingCode.H3: "other restrictions, stated in text",
}


def marks(g: Graph, markings: Sequence[Markings]) -> list[dict[str, str]]:
    """The marking definitions of data under ``markings`` (of several items: the strictest TLP, every
    handling code and evaluation)."""
    tlp = max((m.tlp for m in markings), key=_TLP_ORDER.index)
    found = [_marking(g, f"tlp/{tlp.value}", f"TLP:{tlp.value}", "uco-marking:StatementMarking", "statement",
                      "uco-marking:statement", f"TLP:{tlp.value} (FIRST TLP 2.0): {_TLP_MEANINGS[tlp]}")]
    for m in markings:
        code = HandlingCode(m.handling_code)
        terms = f"Europol handling code {code.value}: {_HANDLING_MEANINGS[code]}"
        terms += f": {m.handling_text}" if m.handling_text else "."
        found.append(_marking(g, f"handling/{code.value}/{m.handling_text}",
                              f"Europol handling code {code.value}", "uco-marking:TermsOfUseMarking",
                              "terms-of-use", "uco-marking:termsOfUse", terms))
        if m.source_evaluation or m.information_evaluation:
            source, info = m.source_evaluation or "-", m.information_evaluation or "-"
            found.append(_marking(
                g, f"evaluation/{source}/{info}", f"Europol evaluation {source}{info}", "uco-marking:StatementMarking",
                "statement", "uco-marking:statement",
                f"Europol 4x4 evaluation: source {source}, information {info}."))
    return refs(found)


def _marking(g: Graph, key: str, name: str, model: str, kind: str, prop: str, text: str) -> str:
    iri = g.iri("marking", key, _MARKING_BASE)
    if iri in g.nodes:  # the same marking, of another item or event: its node is there (the first one stays)
        return iri
    return g.add({"@id": iri, "@type": MARKING, "uco-core:name": name,
                  "uco-marking:definitionType": kind,
                  "uco-marking:definition": [{"@id": g.iri("marking-model", key, _MARKING_BASE),
                                              "@type": model, "uco-marking:definitionType": kind,
                                              prop: text}]})
