"""The insider suite (issue 8): one user's own key material, full access to the vault directory and
direct SQL on the decrypted database. Each attack must make ``icspa custody verify`` exit 1 and name
the damage — or be refused outright. docs/SECURITY.md states what stays possible.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyrage
import pytest

from icspa_desktop.crypto import signing
from icspa_desktop.crypto.canonical import canonical_json
from icspa_desktop.custody import events
from icspa_desktop.custody.events import Actor, EventDraft
from icspa_desktop.domain.enums import CustodyAction, Role
from icspa_desktop.domain.errors import AuthenticationError, PermissionDenied, VaultError
from icspa_desktop.domain.ids import UserId
from icspa_desktop.services import agency, users
from icspa_desktop.services import custody as custody_service
from icspa_desktop.services.session import unlock
from icspa_desktop.vault import db, store
from icspa_desktop.vault.keyslots import Unlocked
from tests.conftest import ADMIN, ADMIN_PASS, NAMES, PASSPHRASES, VaultInfo, run_cli
from tests.custody.conftest import add_cases

INV = Role.INVESTIGATOR


@dataclass
class Scene:
    vault: VaultInfo
    env: dict[str, str]
    witness: Path


@pytest.fixture
def scene(vault: VaultInfo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Scene:
    """Events by alice (admin), ivan (investigator) and sam (supervisor), an agency checkpoint in the
    middle, and every user's own witness written at their lock."""
    witness = tmp_path / "witness"
    monkeypatch.setenv("ICSPA_WITNESS_DIR", str(witness))
    with vault.session() as alice:
        add_cases(alice, 3, "A")
        custody_service.make_checkpoint(alice, "before the attack")
    with vault.session(INV) as ivan:
        add_cases(ivan, 2, "I")
    with vault.session(Role.SUPERVISOR) as sam:
        add_cases(sam, 2, "S")
    with vault.session() as alice:
        add_cases(alice, 2, "B")
    env = {"ICSPA_VAULT": str(vault.path), "ICSPA_USER": ADMIN, "ICSPA_PASSPHRASE": ADMIN_PASS,
           "ICSPA_WITNESS_DIR": str(witness)}
    assert _verify(env)[0] == 0
    return Scene(vault, env, witness)


def _verify(env: dict[str, str]) -> tuple[int, set[str], list[dict[str, Any]]]:
    done = run_cli("--json", "custody", "verify", env=env)
    assert done.returncode in (0, 1), done.stderr
    damages = json.loads(done.stdout)["damages"]
    return done.returncode, {d["kind"] for d in damages}, damages


@contextmanager
def insider(vault: VaultInfo, role: Role = INV) -> Iterator[tuple[db.Connection, Unlocked]]:
    """The database opened with direct SQL by a user with their own passphrase (no session, no checks)."""
    opened, unlocked = store.open_and_unlock(vault.path, lambda slots: slots.unlock(NAMES[role], PASSPHRASES[role]))
    assert isinstance(unlocked, Unlocked)
    try:
        yield opened.conn, unlocked
    finally:
        opened.close()


def _rows(conn: db.Connection) -> list[dict[str, Any]]:
    out = []
    for idx, body, sig, pk in conn.execute("SELECT idx, body, signature, public_key FROM custody_events ORDER BY idx"):
        out.append({"idx": int(idx), "body": json.loads(bytes(body)), "sig": bytes(sig), "pk": bytes(pk)})
    return out


def _by(conn: db.Connection, name: str) -> list[int]:
    return [r["idx"] for r in _rows(conn) if r["body"]["actor"]["name"] == name]


def _rewrite_log(conn: db.Connection, rows: list[dict[str, Any]], key: bytes, own: str) -> None:
    """Store ``rows`` as the whole log, renumbered and rechained; the insider re-signs the events that
    are theirs and must keep everyone else's signatures as they are."""
    conn.execute("DELETE FROM custody_event_items")
    conn.execute("DELETE FROM custody_events")
    conn.execute("DELETE FROM custody_head")
    public = signing.public_from_private(key)
    for row in rows:
        body = dict(row["body"])
        head = events.current_head(conn)
        signature, pk = row["sig"], row["pk"]
        if body["actor"]["name"] == own:
            body["index"], body["prev_root"] = head.size, base64.b64encode(head.root()).decode()
            signature, pk = signing.sign(key, events.signed_message(canonical_json(body))), public
        body_bytes = canonical_json(body)
        leaf = events.leaf_hash(events.leaf_bytes(body_bytes, signature, pk))
        conn.execute("INSERT INTO custody_events (idx, id, case_id, action, actor_id, at, body, signature, public_key,"
                     " leaf_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     (head.size, body["id"], body["case_id"], body["action"], body["actor"]["id"], body["at"],
                      body_bytes, signature, pk, leaf))
        conn.executemany("INSERT INTO custody_event_items (event_idx, item_id) VALUES (?, ?)",
                         [(head.size, i) for i in sorted(set(body["item_ids"]))])
        head.push(leaf)
        conn.execute("INSERT OR REPLACE INTO custody_head (id, tree_size, frontier) VALUES (1, ?, ?)",
                     (head.size, head.to_bytes()))


def _append_as(conn: db.Connection, unlocked: Unlocked, draft: EventDraft) -> None:
    """A validly signed, correctly chained event by the insider, appended at the end."""
    row = conn.execute("SELECT id, name, display_name, role FROM users WHERE id = ?", (unlocked.user_id,)).fetchone()
    actor = Actor(UserId(str(row[0])), str(row[1]), str(row[2]), Role(str(row[3])), "Test Police")
    with db.transaction(conn):
        events.append(conn, draft, actor, unlocked.signing_private_key)


# ---- guarantee 1: other users' events, and events under a checkpoint that left the insider's control ----
def test_edit_of_another_users_event(scene: Scene) -> None:
    with insider(scene.vault) as (conn, _):
        target = _by(conn, ADMIN)[3]
        body = json.loads(bytes(conn.execute("SELECT body FROM custody_events WHERE idx = ?", (target,)).fetchone()[0]))
        body["notes"] = "edited by ivan"
        conn.execute("UPDATE custody_events SET body = ? WHERE idx = ?", (canonical_json(body), target))
    code, kinds, damages = _verify(scene.env)
    assert code == 1 and "bad_signature" in kinds
    assert any(d["event_index"] == target for d in damages if d["kind"] == "bad_signature")


@pytest.mark.parametrize("attack", ["delete", "reorder", "insert", "re-sign own"])
def test_middle_of_the_log_rewritten_and_rechained(scene: Scene, attack: str) -> None:
    """The insider renumbers and rechains everything they can sign; others' later signatures break."""
    with insider(scene.vault) as (conn, me):
        rows = _rows(conn)
        mine = [i for i, r in enumerate(rows) if r["body"]["actor"]["name"] == NAMES[INV]]
        if attack == "delete":  # one of alice's events before ivan's
            del rows[_by(conn, ADMIN)[4]]
        elif attack == "reorder":
            a, b = mine[0], mine[0] - 1
            rows[a], rows[b] = rows[b], rows[a]
        elif attack == "insert":
            forged = dict(rows[mine[0]])
            forged["body"] = dict(forged["body"], id="00000000-0000-4000-8000-00000000beef", notes="inserted")
            rows.insert(mine[0], forged)
        else:
            rows[mine[0]]["body"] = dict(rows[mine[0]]["body"], purpose="a better story")
        _rewrite_log(conn, rows, me.signing_private_key, NAMES[INV])
    code, kinds, damages = _verify(scene.env)
    assert code == 1
    assert "chain_broken" in kinds, damages
    if attack != "re-sign own":  # all of these are also below the agency checkpoint or its witness
        assert kinds & {"history_rewritten", "history_forked", "chain_broken"}


def test_tail_cut_including_another_users_newest_events(scene: Scene) -> None:
    """A consistent chain remains; alice's own witness (written at her lock) shows the cut."""
    with insider(scene.vault) as (conn, _):
        last_own = _by(conn, NAMES[INV])[-1]
        conn.execute("DELETE FROM custody_event_items WHERE event_idx > ?", (last_own,))
        conn.execute("DELETE FROM custody_events WHERE idx > ?", (last_own,))
        conn.execute("DELETE FROM custody_head")
    code, kinds, damages = _verify(scene.env)
    assert code == 1 and "user_witness" in kinds, damages
    assert any("no longer contains event" in d["message"] for d in damages)
    assert any("The witness of user 'alice'" in d["message"] for d in damages)
    # alice is told at her next unlock, too.
    done = run_cli("case", "list", env=scene.env)
    assert "the log no longer contains event" in done.stderr
    # After looking into it, an administrator sets the stale witnesses aside — recorded, and kept on disk.
    reset = run_cli("--json", "custody", "witness-reset", "--reason", "tail loss investigated (ticket 7)",
                    env=scene.env)
    assert reset.returncode == 0, reset.stderr
    aside = json.loads(reset.stdout)["set_aside"]
    assert aside and all(Path(p).exists() for p in aside)
    assert _verify(scene.env)[0] == 0


def test_witness_deleted_or_replaced(scene: Scene) -> None:
    agency_witness = next(scene.witness.glob("*.checkpoint"))
    saved = agency_witness.read_bytes()
    agency_witness.unlink()
    code, kinds, _ = _verify(scene.env)
    assert code == 1 and kinds == {"witness_missing"}
    agency_witness.write_bytes(saved.replace(b"Timestamp", b"Timestamp-forged", 1))
    code, kinds, _ = _verify(scene.env)
    assert code == 1 and "witness_invalid" in kinds
    agency_witness.unlink()
    # Only an administrator may re-establish it, and that is recorded.
    inv_env = scene.env | {"ICSPA_USER": NAMES[INV], "ICSPA_PASSPHRASE": PASSPHRASES[INV]}
    assert run_cli("custody", "witness-reset", "--reason", "mine", env=inv_env).returncode == 6
    assert run_cli("custody", "witness-reset", "--reason", "new OS account", env=scene.env).returncode == 0
    assert _verify(scene.env)[0] == 0


# ---- guarantee 2: roles, active state and keys ---------------------------------------------------------
def test_role_escalation_in_the_users_table(scene: Scene) -> None:
    with insider(scene.vault) as (conn, _):
        conn.execute("UPDATE users SET role = 'administrator' WHERE name = ?", (NAMES[INV],))
    with pytest.raises(VaultError, match="does not match the signed custody log"):
        scene.vault.session(INV)
    code, kinds, damages = _verify(scene.env)
    assert code == 1 and kinds == {"users_table_mismatch"}
    assert any("role 'administrator'" in d["message"] for d in damages)


def test_self_signed_role_change_and_key_for_another_user(scene: Scene) -> None:
    """Valid, chained events signed by the insider: refused as user changes (only admins make them)."""
    with insider(scene.vault) as (conn, me):
        alice_id = conn.execute("SELECT id FROM users WHERE name = ?", (ADMIN,)).fetchone()[0]
        alice_key = conn.execute("SELECT public_key FROM user_keys WHERE user_id = ? AND retired_at IS NULL",
                                 (alice_id,)).fetchone()[0]
        _append_as(conn, me, EventDraft(CustodyAction.USER_CHANGED, details={"user_id": me.user_id,
                                                                             "role": "administrator"}))
        _, public = signing.generate()
        _append_as(conn, me, EventDraft(CustodyAction.KEY_ROTATED, details={
            "user_id": alice_id, "old_key": base64.b64encode(bytes(alice_key)).decode(),
            "new_key": base64.b64encode(public).decode()}))
        conn.execute("UPDATE users SET role = 'administrator' WHERE id = ?", (me.user_id,))
    # alice still unlocks (a forged change is not applied) and is warned; ivan's table edit locks him out.
    assert "not accepted" in run_cli("case", "list", env=scene.env).stderr
    with pytest.raises(VaultError, match="does not match the signed custody log"):
        scene.vault.session(INV)
    code, kinds, damages = _verify(scene.env)
    assert code == 1 and "user_state_forged" in kinds
    refused = [d["message"] for d in damages if d["kind"] == "user_state_forged"]
    assert len(refused) == 2 and all("not accepted" in m for m in refused)


def test_re_enabling_a_disabled_account(scene: Scene) -> None:
    with scene.vault.session() as alice:
        users.set_active(alice, NAMES[INV], False)  # rotates the master key
    # Ivan's slot now yields only the old master key: no direct SQL, no unlock.
    with pytest.raises(AuthenticationError, match="disabled"), insider(scene.vault):
        pass
    # A colleague re-enables him in the table: detected, and his slot still opens nothing.
    with insider(scene.vault, Role.AUDITOR) as (conn, _):
        conn.execute("UPDATE users SET active = 1 WHERE name = ?", (NAMES[INV],))
    with pytest.raises(AuthenticationError):
        scene.vault.session(INV)
    code, kinds, _ = _verify(scene.env)
    assert code == 1 and kinds == {"users_table_mismatch"}


def test_slot_pointed_at_another_user(scene: Scene) -> None:
    """Ivan's slot relabelled with alice's user id: it opens, but his key is not alice's."""
    slots_file = scene.vault.path / "keyslots.json"
    doc = json.loads(slots_file.read_text())
    with scene.vault.session() as alice:
        alice_id = alice.user.id
        ivan_id = users.get_user(alice, NAMES[INV]).id
    mine = next(s for s in doc["slots"] if s.get("user_id") == ivan_id)
    mine["user_id"] = alice_id
    doc["slots"] = [s for s in doc["slots"] if s.get("user_id") != alice_id or s is mine]
    slots_file.write_text(json.dumps(doc))
    with pytest.raises((AuthenticationError, VaultError)):
        unlock(scene.vault.path, NAMES[INV], PASSPHRASES[INV])


def test_duplicate_slot_for_a_name_is_refused(scene: Scene) -> None:
    slots_file = scene.vault.path / "keyslots.json"
    doc = json.loads(slots_file.read_text())
    doc["slots"].append(dict(doc["slots"][0], id="another"))
    slots_file.write_text(json.dumps(doc))
    with pytest.raises(VaultError, match="two slots"):
        scene.vault.session()


# ---- guarantee 3: the agency key --------------------------------------------------------------------
def test_investigator_cannot_sign_with_the_agency_key(scene: Scene) -> None:
    with scene.vault.session(INV) as ivan:
        with pytest.raises(PermissionDenied):
            custody_service.make_checkpoint(ivan)
        with pytest.raises(PermissionDenied):
            agency.checkpoint_signer(ivan)
        box = ivan.box_secret()
    with insider(scene.vault) as (conn, _):
        # No copy sealed under the master key, none encrypted to ivan; the others' do not open with his key.
        assert all(not bytes(r[0]) for r in conn.execute("SELECT sealed_signing_key FROM agency_keys"))
        wraps = conn.execute("SELECT user_id, wrapped FROM agency_key_wraps").fetchall()
        ivan_id = conn.execute("SELECT id FROM users WHERE name = ?", (NAMES[INV],)).fetchone()[0]
        assert wraps and ivan_id not in {r[0] for r in wraps}
        for _, wrapped in wraps:
            with pytest.raises(pyrage.DecryptError):
                pyrage.decrypt(bytes(wrapped), [pyrage.x25519.Identity.from_str(box)])
        # Nor does granting himself a wrap in the users table help: the grant list comes from the signed log.
        conn.execute("UPDATE users SET role = 'supervisor' WHERE id = ?", (ivan_id,))
        assert ivan_id not in agency.authorised_signers(conn)


def test_demoted_supervisor_loses_the_agency_key(scene: Scene) -> None:
    with scene.vault.session() as alice:
        users.set_role(alice, "sam", Role.INVESTIGATOR)
    with scene.vault.session(Role.SUPERVISOR) as sam:
        assert sam.user.role is Role.INVESTIGATOR
        with pytest.raises(PermissionDenied):
            agency.checkpoint_signer(sam)
    assert _verify(scene.env)[0] == 0


# ---- an administrator acting alone ---------------------------------------------------------------------
def test_administrator_cannot_hide_another_users_newest_events(scene: Scene) -> None:
    """Alice holds every role's power and the agency key: she cuts ivan's and sam's events off the tail,
    signs a fresh checkpoint and rewrites the agency witness — their own witnesses still show it."""
    with scene.vault.session(INV) as ivan:
        add_cases(ivan, 1, "LATE")  # ivan's newest event, in his witness at lock
    with insider(scene.vault, Role.ADMINISTRATOR) as (conn, _):
        keep = _by(conn, ADMIN)[-1]
        conn.execute("DELETE FROM custody_event_items WHERE event_idx > ?", (keep,))
        conn.execute("DELETE FROM custody_events WHERE idx > ?", (keep,))
        conn.execute("DELETE FROM custody_head")
    with scene.vault.session() as alice:
        custody_service.make_checkpoint(alice, "cover-up", replace_witness=True)
    code, kinds, damages = _verify(scene.env)
    assert code == 1 and "user_witness" in kinds, damages


def test_second_witness_on_media_catches_a_rewritten_first_witness(scene: Scene, tmp_path: Path) -> None:
    """An administrator rewrites history and the witness in their OS account; the copy on the medium,
    chosen by a signed event, still shows it. Unmounted, the copy is a note, not damage."""
    media = tmp_path / "usb"
    media.mkdir()
    assert run_cli("custody", "witness-copy", str(media), "--reason", "evidence office USB",
                   env=scene.env).returncode == 0
    assert run_cli("custody", "checkpoint", env=scene.env).returncode == 0
    assert list(media.glob("*.checkpoint"))
    with insider(scene.vault, Role.ADMINISTRATOR) as (conn, _):
        keep = _by(conn, ADMIN)[2]
        conn.execute("DELETE FROM custody_event_items WHERE event_idx > ?", (keep,))
        conn.execute("DELETE FROM custody_events WHERE idx > ?", (keep,))
        conn.execute("DELETE FROM custody_head")
        conn.execute("DELETE FROM custody_checkpoints")
    for own in scene.witness.glob("*"):  # their own OS account's witnesses: gone too
        own.unlink()
    # The cut also removed the event that named the medium: the evidence office names it when checking.
    done = run_cli("--json", "custody", "verify", "--witness-copy", str(media), env=scene.env)
    assert done.returncode == 1, done.stderr
    damages = json.loads(done.stdout)["damages"]
    assert "vault_rolled_back" in {d["kind"] for d in damages}, damages
    assert any(str(media) in d["message"] for d in damages)



def test_second_witness_recorded_but_unplugged_is_a_note(scene: Scene, tmp_path: Path) -> None:
    media = tmp_path / "usb"
    media.mkdir()
    assert run_cli("custody", "witness-copy", str(media), env=scene.env).returncode == 0
    assert list(media.glob("*.checkpoint"))  # the latest checkpoint was copied at once
    assert _verify(scene.env)[0] == 0
    media.rename(tmp_path / "unplugged")
    done = run_cli("--json", "custody", "verify", env=scene.env)
    assert done.returncode == 0 and any("not there" in note for note in json.loads(done.stdout)["notes"])
    # An insider's edit of the copy on the medium is damage like any witness edit.
    (tmp_path / "unplugged").rename(media)
    copy = next(media.glob("*.checkpoint"))
    copy.write_bytes(copy.read_bytes().replace(b"Timestamp", b"Timestamp-x", 1))
    code, kinds, _ = _verify(scene.env)
    assert code == 1 and "witness_invalid" in kinds


def test_investigator_checkpoint_is_signed_with_their_own_key(scene: Scene) -> None:
    inv_env = scene.env | {"ICSPA_USER": NAMES[INV], "ICSPA_PASSPHRASE": PASSPHRASES[INV]}
    done = run_cli("--json", "custody", "checkpoint", "--reason", "end of shift", env=inv_env)
    assert done.returncode == 0, done.stderr
    event = json.loads(done.stdout)
    assert event["action"] == "checkpoint_signed" and event["details"]["signed_by"] == "user"
    assert event["actor"]["name"] == NAMES[INV]
    assert _verify(scene.env)[0] == 0
    # The tree head it states is checked against the log like every checkpoint.
    with insider(scene.vault) as (conn, _):
        target = next(r["idx"] for r in _rows(conn) if r["body"]["action"] == "case_created")
        conn.execute("DELETE FROM custody_event_items WHERE event_idx = ?", (target,))
        conn.execute("DELETE FROM custody_events WHERE idx = ?", (target,))
    code, kinds, damages = _verify(scene.env)
    assert code == 1 and "history_rewritten" in kinds
    assert any("recorded a checkpoint" in d["message"] and d["event_index"] == event["index"] for d in damages)
