"""The CASE/UCO export read back as a graph (rdflib, SPARQL): what a partner's tools would query.

Real vaults through the services: a seized phone with its serial, an image acquired from it with a tool
under a seal, a photo carved from the image and extracted, a file whose stored content was damaged (its
verification fails), a check-out and check-in; and a bundle sent from one agency to another.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

import case_utils.ontology
import pytest
from case_utils.ontology.version_info import CURRENT_CASE_VERSION
from hypothesis import given, settings
from hypothesis import strategies as st
from rdflib import RDF, RDFS, Graph, Literal, Namespace, URIRef
from rdflib.query import ResultRow

from icspa_desktop import TOOL_NAME, __version__
from icspa_desktop.custody import events
from icspa_desktop.domain.evidence import Item
from icspa_desktop.reports import case_uco, uco_graph
from icspa_desktop.services import bundle_import, cases, custody_reports, evidence, received
from icspa_desktop.services.session import Session, setting
from tests.bundle.exchange import CASE as SENT_CASE
from tests.bundle.exchange import make_exchange
from tests.reports.conftest import CASE, SERIAL, WARRANT, Scene
from tests.tools import require_tool

CORE = Namespace("https://ontology.unifiedcyberontology.org/uco/core/")
ACTION = Namespace("https://ontology.unifiedcyberontology.org/uco/action/")
OBS = Namespace("https://ontology.unifiedcyberontology.org/uco/observable/")
MARK = Namespace("https://ontology.unifiedcyberontology.org/uco/marking/")
TOOL = Namespace("https://ontology.unifiedcyberontology.org/uco/tool/")
TYPES = Namespace("https://ontology.unifiedcyberontology.org/uco/types/")
INV = Namespace("https://ontology.caseontology.org/case/investigation/")
PREFIXES = {"core": CORE, "action": ACTION, "obs": OBS, "marking": MARK, "tool": TOOL, "types": TYPES,
            "inv": INV, "identity": Namespace("https://ontology.unifiedcyberontology.org/uco/identity/")}


def _export(session: Session, case: str, out: Path) -> Graph:
    custody_reports.case_uco_export(session, case, out)
    return Graph().parse(out, format="json-ld")


def _validate(*paths: Path) -> None:
    validator = require_tool("case_validate")  # fails, never skips, when missing
    done = subprocess.run([validator, *map(str, paths)], capture_output=True, text=True, check=False, timeout=300)
    assert done.returncode == 0 and "Conforms: True" in done.stdout, done.stdout[-3000:]


def _rows(graph: Graph, query: str, **bindings: object) -> list[ResultRow]:
    # Plain str → literal; URIRef (a str subclass too) stays a node.
    found = graph.query(query, initNs=PREFIXES, initBindings={k: v if isinstance(v, URIRef) else Literal(v)
                                                                for k, v in bindings.items()})
    return [row for row in found if isinstance(row, ResultRow)]


def _one(graph: Graph, query: str, **bindings: object) -> ResultRow:
    rows = _rows(graph, query, **bindings)
    assert len(rows) == 1, rows
    return rows[0]


def _item(graph: Graph, item: Item) -> URIRef:
    """The observable of an item: the one its first provenance record names with the item's exhibit number."""
    node = _one(graph, "SELECT DISTINCT ?o WHERE { ?r a inv:ProvenanceRecord ; inv:exhibitNumber ?n ; core:object ?o ."
                       " FILTER NOT EXISTS { ?r inv:rootExhibitNumber ?x } }", n=item.exhibit_number).o
    assert isinstance(node, URIRef)
    return node


def _chain(graph: Graph, item: URIRef) -> list[tuple[str, str]]:
    """(action name, status) from the acquisition along the provenance records of ``item`` to the last one."""
    first = _one(graph, "SELECT ?a ?r WHERE { ?a action:result ?r . ?r a inv:ProvenanceRecord ; core:object ?i ."
                        " FILTER NOT EXISTS { ?r inv:rootExhibitNumber ?x } }", i=item)
    names = [(str(graph.value(first.a, CORE.name)), str(graph.value(first.a, ACTION.actionStatus)))]
    record = first.r
    while True:
        step = _rows(graph, "SELECT ?a ?next WHERE { ?a action:object ?r ; action:result ?next ."
                            " ?next a inv:ProvenanceRecord ; core:object ?i }", r=record, i=item)
        if not step:
            return names
        assert len(step) == 1, f"the chain forks after {record}: {step}"
        names.append((str(graph.value(step[0].a, CORE.name)), str(graph.value(step[0].a, ACTION.actionStatus))))
        record = step[0].next


@pytest.fixture
def exported(admin: Session, scene: Scene, tmp_path: Path) -> tuple[Graph, Path]:
    out = tmp_path / "case.jsonld"
    return _export(admin, CASE, out), out


def test_the_scene_passes_case_validate(exported: tuple[Graph, Path]) -> None:
    _validate(exported[1])


def test_the_acquisition_yields_the_image_from_the_phone_by_its_officer_with_tool_method_and_seal(
        exported: tuple[Graph, Path], scene: Scene) -> None:
    graph = exported[0]
    image, phone = _item(graph, scene.image), _item(graph, scene.phone)
    assert (image, RDF.type, OBS.File) in graph
    assert (phone, RDF.type, OBS.Device) in graph and (phone, RDF.type, OBS.File) not in graph
    act = _one(graph, """SELECT ?a ?officer ?tool ?where ?start WHERE {
        ?a a inv:InvestigativeAction ; core:name "acquisition" ; action:result ?image ; action:object ?device ;
           action:performer ?officer ; action:instrument ?tool ; action:location ?where ; action:startTime ?start .
        ?device a obs:Device ; core:hasFacet [ a obs:DeviceFacet ; obs:serialNumber ?serial ] }""",
                   image=image, device=phone, serial=SERIAL)
    assert (act.a, ACTION.object, image) not in graph  # produced, not acted upon
    assert str(act.start) == "2026-03-02T10:00:00+01:00"
    assert str(graph.value(act.where, CORE.name)) == "BKA lab 3"
    assert (str(graph.value(act.tool, CORE.name)), str(graph.value(act.tool, TOOL.version))) == \
        ("Cellebrite UFED", "7.69")
    arguments = {str(r.n): str(r.v) for r in _rows(graph, """SELECT ?n ?v WHERE {
        ?a core:hasFacet [ a action:ActionArgumentFacet ; action:argumentName ?n ; action:value ?v ] }""", a=act.a)}
    assert arguments == {"method": "physical image", "seal number": "S-0002", "source device": "Samsung Galaxy S21",
                         "source serial number": SERIAL}
    officer = _one(graph, """SELECT ?name ?agency WHERE { ?p core:name ?name .
        [] a core:Relationship ; core:source ?p ; core:kindOfRelationship "Has_Role" ; core:target ?role .
        ?role core:name "acquiring officer" .
        [] a core:Relationship ; core:source ?p ; core:kindOfRelationship "Member_Of" ; core:target ?org .
        ?org a identity:Organization ; core:name ?agency }""", p=act.officer)
    assert (str(officer.name), str(officer.agency)) == ("KOK Schmidt", "Test Police")
    # The first provenance record of the image: its exhibit number, the seal, and the image it holds.
    record = _one(graph, "SELECT ?r ?d WHERE { ?a action:result ?r . ?r a inv:ProvenanceRecord ; core:object ?i ;"
                         " core:description ?d }", a=act.a, i=image)
    assert "S-0002" in str(record.d)
    assert str(graph.value(record.r, INV.exhibitNumber)) == scene.image.exhibit_number
    # The seizure of the phone itself: its officer, time and seal, a record but no file.
    seizure = _one(graph, "SELECT ?a WHERE { ?a core:name 'seizure' ; action:result [ core:object ?phone ] }",
                   phone=phone).a
    assert str(graph.value(seizure, ACTION.startTime)) == "2026-03-01T08:30:00+01:00"


def test_each_item_has_one_provenance_chain_through_its_custody_events(
        admin: Session, exported: tuple[Graph, Path], scene: Scene) -> None:
    graph = exported[0]
    ok = "Success"
    assert _chain(graph, _item(graph, scene.phone)) == [
        ("seizure", ok), ("intake", ok), ("check-out", ok), ("check-in", ok)]
    assert _chain(graph, _item(graph, scene.image)) == [("acquisition", ok), ("intake", ok), ("verification", ok)]
    assert _chain(graph, _item(graph, scene.carved)) == [
        ("acquisition", ok), ("intake", ok), ("extraction", ok), ("verification", ok)]
    assert _chain(graph, _item(graph, scene.tampered)) == [
        ("acquisition", ok), ("intake", ok), ("verification", "Fail")]
    # One step per custody-changing event of the log (an extraction's start and end make one step).
    for item in (scene.phone, scene.image, scene.carved, scene.tampered):
        logged = [e.action for e in events.list_events(admin.conn, item_id=item.id)
                  if e.action not in {"export_started", "viewed", "annotated"}]
        assert len(_chain(graph, _item(graph, item))) == 1 + len(logged), logged
    # Every record after the first names the exhibit it started as; each record holds its item.
    for item in (scene.phone, scene.image):
        node = _item(graph, item)
        records = _rows(graph, "SELECT ?r ?root WHERE { ?r a inv:ProvenanceRecord ; core:object ?i ;"
                               " inv:exhibitNumber ?n OPTIONAL { ?r inv:rootExhibitNumber ?root } }",
                        i=node, n=item.exhibit_number)
        assert sorted(str(r.root) for r in records if r.root is not None) == [item.exhibit_number] * (len(records) - 1)


def test_a_failed_verification_is_an_action_status_and_a_record(exported: tuple[Graph, Path], scene: Scene) -> None:
    graph = exported[0]
    rows = _rows(graph, """SELECT ?a ?status ?desc ?state WHERE { ?a core:name "verification" ;
        action:actionStatus ?status ; core:description ?desc ; action:object [ core:object ?i ] ;
        action:result ?r . ?r core:object ?i ; core:description ?state }""", i=_item(graph, scene.tampered))
    assert [str(r.status) for r in rows] == ["Fail"]
    assert "mismatch" in str(rows[0].desc) and "FAILED" in str(rows[0].state)
    statuses = {str(r.s) for r in _rows(graph, "SELECT ?s WHERE { ?a core:name 'verification' ;"
                                                 " action:actionStatus ?s }")}
    assert statuses == {"Success", "Fail"}


def test_an_extraction_is_one_action_from_start_to_end_and_yields_the_copy(
        exported: tuple[Graph, Path], scene: Scene) -> None:
    graph = exported[0]
    carved = _item(graph, scene.carved)
    act = _one(graph, """SELECT ?a ?start ?end ?copy ?digest WHERE { ?a core:name "extraction" ;
        action:actionStatus "Success" ; action:startTime ?start ; action:endTime ?end ; action:result ?r .
        ?r a inv:ProvenanceRecord ; core:object ?copy . ?copy a obs:File ; inv:wasDerivedFrom ?carved ;
        core:hasFacet [ a obs:FileFacet ; obs:filePath ?path ] ;
        core:hasFacet [ a obs:ContentDataFacet ;
                        obs:hash [ types:hashMethod "SHA256" ; types:hashValue ?digest ] ] }""",
               carved=carved, path=str(scene.extract_to))
    assert act.start.toPython() < act.end.toPython()  # the start and the end events, one action
    assert str(act.digest) == scene.carved.sha256
    assert "court exhibit preparation" in str(graph.value(act.a, CORE.description))


def test_derived_items_and_physical_items(exported: tuple[Graph, Path], scene: Scene) -> None:
    graph = exported[0]
    phone, image, carved = (_item(graph, i) for i in (scene.phone, scene.image, scene.carved))
    assert set(graph.objects(carved, INV.wasDerivedFrom)) == {image}
    assert set(graph.objects(image, INV.wasDerivedFrom)) == {phone}
    assert not set(graph.objects(_item(graph, scene.tampered), INV.wasDerivedFrom))
    # The photo was acquired from the image (its object), the image from the phone.
    _one(graph, "SELECT ?a WHERE { ?a core:name 'acquisition' ; action:object ?image ; action:result ?carved }",
         image=image, carved=carved)
    assert str(graph.value(graph.value(phone, CORE.hasFacet), OBS.serialNumber)) == SERIAL


def test_hand_overs_name_the_other_person_and_their_authority(exported: tuple[Graph, Path], scene: Scene) -> None:
    graph = exported[0]
    for name in ("check-out", "check-in"):
        act = _one(graph, "SELECT ?a ?who WHERE { ?a core:name ?n ; action:participant [ core:name ?who ] }", n=name)
        assert str(act.who) == "Dr. Weber"
    authority = _one(graph, "SELECT ?id WHERE { ?a core:name 'check-out' ; inv:relevantAuthorization ?auth ."
                            " ?auth a inv:Authorization ; inv:authorizationIdentifier ?id }")
    assert str(authority.id) == "Order 7/26"
    state = _one(graph, "SELECT ?d WHERE { ?a core:name 'check-in' ; action:result [ core:description ?d ] }")
    assert "locker 5" in str(state.d)
    on_case = {str(r.id) for r in _rows(graph, "SELECT ?id WHERE { ?c a inv:Investigation ;"
                                               " inv:relevantAuthorization [ inv:authorizationIdentifier ?id ] }")}
    assert on_case == {WARRANT, "Order 7/26"}


def test_performers_have_a_role_and_an_agency_and_the_tool_its_maker(exported: tuple[Graph, Path]) -> None:
    graph = exported[0]
    performers = set(graph.objects(None, ACTION.performer))
    assert len(performers) >= 2  # the vault user and the acquiring officer
    for person in performers:
        roles = {str(r.n) for r in _rows(graph, "SELECT ?n WHERE { [] core:source ?p ; core:kindOfRelationship"
                                                " 'Has_Role' ; core:target [ core:name ?n ] }", p=person)}
        agencies = {str(r.n) for r in _rows(graph, "SELECT ?n WHERE { [] core:source ?p ; core:kindOfRelationship"
                                                   " 'Member_Of' ; core:target [ a identity:Organization ;"
                                                   " core:name ?n ] }", p=person)}
        assert roles and agencies == {"Test Police"}, (person, roles, agencies)
    user = _one(graph, "SELECT ?p WHERE { ?a core:name 'intake' ; action:performer ?p } LIMIT 1").p
    assert str(graph.value(user, CORE.name)) == "Alice Admin"
    tool = _one(graph, "SELECT ?t ?maker WHERE { ?t a tool:Tool ; core:name ?n ; tool:version ?v ;"
                       " tool:creator [ core:name ?maker ] }", n=TOOL_NAME, v=__version__)
    assert str(tool.maker) == case_uco.TOOL_MAKER != "Test Police"
    every_event = _rows(graph, "SELECT ?a WHERE { ?a a inv:InvestigativeAction ; core:description ?d"
                               " FILTER STRSTARTS(?d, 'Custody event') FILTER NOT EXISTS { ?a action:instrument ?t } }",
                        t=tool.t)
    assert every_event == []


def test_every_object_carries_its_markings(exported: tuple[Graph, Path], scene: Scene) -> None:
    graph = exported[0]
    ontology = Graph().parse(Path(case_utils.ontology.__file__).parent / f"case-{CURRENT_CASE_VERSION}-subclasses.ttl")
    uco_object = set(ontology.transitive_subjects(RDFS.subClassOf, CORE.UcoObject))
    objects = {s for s, t in graph.subject_objects(RDF.type) if t in uco_object and t != MARK.MarkingDefinition}
    assert len(objects) > 50

    def marks(node: URIRef) -> set[str]:
        return {str(graph.value(m, CORE.name)) for m in graph.objects(node, CORE.objectMarking)}

    for node in objects:
        found = marks(node)
        assert len([m for m in found if m.startswith("TLP:")]) == 1, (node, found)
        assert any(m.startswith("Europol handling code") for m in found), (node, found)
    image = _item(graph, scene.image)
    assert marks(image) == {"TLP:RED", "Europol handling code H3", "Europol evaluation B2"}
    assert marks(_item(graph, scene.phone)) == {"TLP:AMBER", "Europol handling code H2"}
    h3 = _one(graph, "SELECT ?t WHERE { ?m core:name 'Europol handling code H3' ; marking:definition"
                     " [ a marking:TermsOfUseMarking ; marking:termsOfUse ?t ] }")
    assert "only for the JIT Kestrel" in str(h3.t)
    # The image's records and actions are marked as the image is, the case's as the case.
    for record in graph.subjects(CORE.object, image):
        if (record, RDF.type, INV.Investigation) not in graph:
            assert marks(record) == marks(image)
    investigation = next(graph.subjects(RDF.type, INV.Investigation))
    assert marks(investigation) == {"TLP:AMBER", "Europol handling code H2"}
    # Marking definitions are named the same in every vault, so that partners can match them.
    assert all(str(m).startswith("urn:icspa:marking-") for m in graph.subjects(RDF.type, MARK.MarkingDefinition))


def test_a_re_export_names_the_same_nodes(admin: Session, exported: tuple[Graph, Path], tmp_path: Path) -> None:
    first = set(exported[0].subjects())
    again = _export(admin, CASE, tmp_path / "again.jsonld")  # one more event: the first export
    assert first <= set(again.subjects())


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-03-01T08:30:00+01:00", "2026-03-01T08:30:00+01:00"),
    ("2026-03-01 08:30", "2026-03-01T08:30:00"),
    ("2026-03-01T08:30:00Z", "2026-03-01T08:30:00+00:00"),
    ("2026-03-01", None),
    ("yesterday at 10", None),
    ("", None),
])
def test_acquisition_times_become_xsd_datetimes_only_when_they_are_one(text: str, expected: str | None) -> None:
    assert case_uco.xsd_datetime(text) == expected


def test_an_item_received_from_a_partner_was_transferred_by_them(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ICSPA_WITNESS_DIR", str(tmp_path / "witness"))
    ex = make_exchange(tmp_path / "ex", sizes=(1500, 2000))
    sent = ex.export()
    with ex.open_nl() as nl:
        sender = _export(nl, SENT_CASE, tmp_path / "nl.jsonld")
    with ex.open_de() as de:
        imported = bundle_import.commit_import(de, bundle_import.prepare_import(de, sent.path))
        graph = _export(de, imported.case.id, tmp_path / "de.jsonld")
        exhibits = {i.id: i.exhibit_number for i in imported.added}
        # With the partner's own custody events (kept at import), the chain runs through their custody too.
        case = cases.get_case(de, imported.case.id)
        doc = case_uco.build(vault_id=de.vault.header.vault_id, agency_name=setting(de.conn, "agency.name"),
                             case=case, items=evidence.list_items(de, case.id),
                             events=events.list_events(de.conn, case_id=case.id),
                             partner_events=received.partner_events(de, case_id=case.id))
    (tmp_path / "de-full.jsonld").write_text(json.dumps(doc))
    _validate(tmp_path / "de.jsonld")
    _validate(tmp_path / "nl.jsonld", tmp_path / "de-full.jsonld")  # two vaults: no IRI in common but markings
    full = Graph().parse(tmp_path / "de-full.jsonld", format="json-ld")
    for exhibit in exhibits.values():
        node = _one(full, "SELECT DISTINCT ?i WHERE { [] inv:exhibitNumber ?n ; core:object ?i ;"
                          " inv:rootExhibitNumber ?x }", n=exhibit).i
        assert isinstance(node, URIRef)
        assert _chain(full, node) == [("acquisition", "Success"), ("intake", "Success"),
                                      ("transfer-prepare", "Success"), ("transfer-receive", "Success")]
        rows = _rows(full, """SELECT ?name ?agency WHERE { ?a action:result [ core:object ?i ] ; action:performer ?p .
            ?p core:name ?name . [] core:source ?p ; core:kindOfRelationship "Member_Of" ;
            core:target [ core:name ?agency ] }""", i=node)
        # The partner's officer acquired it and recorded it; they are of the partner agency as we name it.
        assert {(str(r.name), str(r.agency)) for r in rows} == {("admin", "Politie NL (NL)"),
                                                                ("admin", "Bundeskriminalamt")}
    # The sender: each item prepared for BKA in the bundle, then the bundle sent, both to BKA (DE).
    sends = _rows(sender, "SELECT ?a ?to ?status WHERE { ?a core:name 'transfer-send' ; action:participant"
                          " [ a identity:Organization ; core:name ?to ] ; action:actionStatus ?status }")
    assert [(str(r.to), str(r.status)) for r in sends] == [("BKA (DE)", "Success")]
    assert len(list(sender.objects(sends[0].a, ACTION.result))) == 3
    # The recipient: the partner's acquisition yields their exhibit; our receipt of it yields ours.
    # (The service's own export includes the partner's events: the receipt follows their bundling record.)
    rows = _rows(graph, """SELECT DISTINCT ?theirs ?ours ?desc ?by WHERE {
        ?acq core:name "acquisition" ; action:performer ?officer .
        [] core:source ?officer ; core:kindOfRelationship "Member_Of" ; core:target [ core:name "Politie NL (NL)" ] .
        ?t core:name "transfer-receive" ; action:object ?last ; action:result ?next ; core:description ?desc ;
           action:participant [ a identity:Organization ; core:name "Politie NL (NL)" ] ; action:performer ?me .
        ?last a inv:ProvenanceRecord ; inv:exhibitNumber ?theirs .
        ?next inv:exhibitNumber ?ours ; inv:rootExhibitNumber ?theirs .
        [] core:source ?me ; core:kindOfRelationship "Member_Of" ; core:target [ core:name ?by ] }""")
    assert len(rows) == 3
    assert {str(r.by) for r in rows} == {"Bundeskriminalamt"}
    assert all(sent.bundle_id in str(r.desc) for r in rows)
    assert {str(r.ours) for r in rows} == set(exhibits.values())
    assert json.loads((tmp_path / "de.jsonld").read_text())["@graph"]


@settings(max_examples=500, deadline=None)
@given(st.text())
def test_node_names_are_the_standard_name_based_uuids(name: str) -> None:
    """The graph's IRIs end in ``uuid5`` of our namespace (re-exports name the same nodes); ``name_uuid`` makes
    that text without a UUID object, so it is held to the standard library's."""
    try:
        expected = str(uuid.uuid5(uco_graph._NAMESPACE, name))
    except UnicodeEncodeError:  # a lone surrogate: no UTF-8, refused the same way
        with pytest.raises(UnicodeEncodeError):
            uco_graph.name_uuid(name)
        return
    assert uco_graph.name_uuid(name) == expected
