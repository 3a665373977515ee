"""Hostile input: the JSONL importer and stored payloads, fuzzed with hypothesis.

    python -m benchmarks.fuzz --examples 2000

Five properties, each tried on `--examples` generated inputs:

- `import`: a JSONL file built from the fixtures' lines with 1-3 mutations (a field
  replaced by a hostile JSON fragment: wrong types, absurd versions, huge numbers, deep
  nesting, bad escapes; a key dropped or added; a line truncated, cut, duplicated,
  swapped, emptied or replaced by random bytes; invalid UTF-8; a broken header) is
  either imported, or refused with an EventStateError naming the line and the store is
  exactly as before (nothing half-written). Nothing else may escape.
- `import-readable`: when such a file (mutated in its payloads) IS imported, both
  exports work and verify finds nothing but old-schema events that do not upcast
  (legacy logs import as they are; the upgrade's preflight reports those).
- `payload-bytes`: bytes written straight into `events.state` that do not decode to a
  map (random bytes; the real payload truncated, flipped, extended; msgpack headers
  declaring 4 GiB strings, arrays and maps; 1 000 000-deep nesting; unknown ext types;
  anything with an encrypted store): every read path (read_stream, iter_events, history,
  export, aggregate load, projection rebuild, upgrade dry run) raises an EventStateError
  (CorruptEventError) and `verify` reports the event without raising.
- `payload-maps`: bytes that decode to a map of the wrong shape (fields dropped, added,
  of the wrong type, nested up to 200 deep): every read path raises an EventStateError
  or succeeds, and verify reports the change.
- `payload-values`: the same with values msgpack holds and JSON (orjson) does not write:
  bytes, ext types, nesting past 255: every read path raises an EventStateError (the
  projection store turns orjson's refusal into a CorruptEventError naming the document).

Each example runs on a fresh copy of a small store file; the script reports inputs
tried, outcomes, the slowest example (no hang) and the peak RSS (no memory blow-up).
`tests/reliability/test_reliability_fuzz_*.py` run the same properties with fewer examples.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import resource
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import msgpack
import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
_MARK = b'"@@HOSTILE@@"'
_KEY_VAR = "EVENTSTATE_CIPHER_KEY"

# --- hostile JSON -------------------------------------------------------------------------------

HOSTILE_JSON: tuple[bytes, ...] = (
    b"null",
    b"true",
    b"false",
    b"0",
    b"-1",
    b"1.5",
    b"-0.0",
    b"1e308",
    b"1e400",
    b"-1e400",
    b"NaN",
    b"Infinity",
    b"9223372036854775807",
    b"9223372036854775808",
    b"18446744073709551615",
    b"18446744073709551616",
    b"-9223372036854775809",
    b"1" + b"0" * 400,
    b'""',
    b'"x"',
    b'"\\u0000"',
    b'"\\ud800"',
    b'"\\udfff\\ud800"',
    b'"' + b"a" * 100_000 + b'"',
    b"[]",
    b"{}",
    b"[1,2]",
    b'{"a":1}',
    b'{"":{"":{}}}',
    b"[" * 300 + b"]" * 300,
    b"[" * 1000 + b"]" * 1000,
    b"[" * 100_000 + b"]" * 100_000,
    b'{"a":' * 600 + b"1" + b"}" * 600,
    b"[1,",
    b"{",
    b'"unterminated',
    b"'single'",
    b"undefined",
    b"0x10",
    b"01",
    b"1_000",
    b'"2013-08-01T09:01:33+00:00"',
    b'"0001-01-01T00:00:00+14:00"',
    b'"9999-12-31T23:59:59-14:00"',
    b'"machine:x:0"',
)
ABSURD_VERSIONS: tuple[bytes, ...] = (
    b"0",
    b"-1",
    b"2",
    b"1000000",
    b"9223372036854775807",
    b"9223372036854775808",
    b"1" + b"0" * 30,
    b"1.0",
    b"1.5",
    b'"1"',
    b"true",
    b"null",
)
INVALID_UTF8: tuple[bytes, ...] = (
    b"\xff",
    b"\xfe\xff",
    b"\xc3",
    b"\xc3\x28",
    b"\xed\xa0\x80",
    b"\xf4\x90\x80\x80",
    b"\xc0\xaf",
    b"\x00",
    b"\r",
    b"\x1b[2J",
)

json_values: st.SearchStrategy[Any] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)  # orjson's range; larger: raw
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
fragments: st.SearchStrategy[bytes] = st.one_of(
    st.sampled_from(HOSTILE_JSON),
    json_values.map(lambda v: orjson.dumps(v, option=orjson.OPT_NON_STR_KEYS)),
    st.integers(min_value=1, max_value=3000).map(lambda n: b"[" * n + b"0" + b"]" * n),
)


@dataclass(frozen=True)
class Source:
    """A fixture's header and event lines (valid ones; the fuzzer breaks them)."""

    name: str
    header: bytes
    lines: tuple[bytes, ...]


@cache
def sources() -> tuple[Source, ...]:
    from eventstate.samples import build_legacy_log

    found = []
    for name in ("legacy-1.14", "mixed-2.0"):
        header, *lines = (FIXTURES / f"{name}.jsonl").read_bytes().splitlines()
        found.append(Source(name, header, tuple(lines)))
    # Another 1.14 environment (other uuids): continues no stream of the 1.14 fixture.
    header, *lines = [
        orjson.dumps(r) for r in build_legacy_log(seed=77, models=2, machines_per_model=3)
    ]
    found.append(Source("generated-1.14", header, tuple(lines)))
    return tuple(found)


def _replace(line: bytes, path: list[Any], fragment: bytes) -> bytes:
    """The line with the value at `path` (keys into the event object) replaced by raw
    `fragment` bytes (which need not be valid JSON)."""
    event = orjson.loads(line)
    target = event
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = _MARK.strip(b'"').decode()
    return _dumps(event, line).replace(_MARK, fragment, 1)


def _dumps(event: dict[str, Any], line: bytes) -> bytes:
    """The event as JSON; the line unchanged when orjson cannot write it (an earlier
    mutation nested it deeper than orjson writes)."""
    try:
        return orjson.dumps(event)
    except TypeError:
        return line


def _data_path(draw: st.DrawFn, event: dict[str, Any]) -> list[Any]:
    """A path into the event's data: a key at depth 1 to 3."""
    path: list[Any] = ["data"]
    node: Any = event["data"]
    if not isinstance(node, dict):
        return path  # an earlier mutation replaced the data: replace it again
    while isinstance(node, dict) and node:
        key = draw(st.sampled_from(sorted(node)))
        path.append(key)
        node = node[key]
        if len(path) > 3 or draw(st.booleans()):
            break
    if len(path) == 1:
        path.append(draw(st.sampled_from(["extra", "machine_id", "version"])))
    return path


MUTATIONS = (
    "field",
    "data",
    "version",
    "drop-key",
    "extra-key",
    "truncate",
    "insert-bytes",
    "flip",
    "duplicate",
    "swap",
    "empty-line",
    "random-line",
    "header",
    "drop-header",
    "crlf",
)


def _object(line: bytes) -> dict[str, Any] | None:
    """The line as a JSON object, or None once an earlier mutation broke it."""
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


_EVENT_KEYS = ("stream", "version", "type", "schema", "recorded_at", "data")
_STRUCTURED = ("field", "data", "version", "drop-key", "extra-key")


# What `import-readable` uses: mutations that leave a file importable more often.
PAYLOAD_MUTATIONS = ("data", "data", "data", "field", "extra-key")


@st.composite
def hostile_files(
    draw: st.DrawFn, mutations: tuple[str, ...] = MUTATIONS, most: int = 3
) -> tuple[str, bytes]:
    """(source name, file bytes): a prefix of a fixture with 1 to `most` mutations."""
    source = draw(st.sampled_from(sources()))
    count = draw(st.integers(min_value=1, max_value=min(40, len(source.lines))))
    lines = list(source.lines[:count])
    header = source.header
    drop_header = False
    for _ in range(draw(st.integers(min_value=1, max_value=most))):
        kind = draw(st.sampled_from(mutations))
        if kind == "header":
            if _object(header) is not None:
                key = draw(st.sampled_from(["format", "format_version", "release"]))
                extra = st.sampled_from([b'"1.16"', b'"3.1"', b'"2.0"'])
                header = _replace(header, [key], draw(fragments | extra))
            continue
        if kind == "drop-header":
            drop_header = True
            continue
        i = draw(st.integers(min_value=0, max_value=len(lines) - 1)) if lines else 0
        if kind == "empty-line":
            lines.insert(i, draw(st.sampled_from([b"", b" ", b"\t", b"\x00"])))
            continue
        if kind == "random-line":
            lines.insert(i, draw(st.binary(max_size=200)))
            continue
        if not lines:
            continue
        line = lines[i]
        event = _object(line)
        if kind in _STRUCTURED and (event is None or not set(_EVENT_KEYS) <= set(event)):
            kind = "truncate"  # an earlier mutation broke the line: break it further
        if kind == "field":
            key = draw(st.sampled_from(_EVENT_KEYS))
            lines[i] = _replace(line, [key], draw(fragments))
        elif kind == "data" and event is not None:
            lines[i] = _replace(line, _data_path(draw, event), draw(fragments))
        elif kind == "version":
            lines[i] = _replace(line, ["version"], draw(st.sampled_from(ABSURD_VERSIONS)))
        elif kind == "drop-key" and event is not None:
            del event[draw(st.sampled_from(sorted(event)))]
            lines[i] = _dumps(event, line)
        elif kind == "extra-key" and event is not None:
            event[draw(st.sampled_from(["position", "extra", "Version", ""]))] = 1
            lines[i] = _dumps(event, line)
        elif kind == "truncate" and line:
            lines[i] = line[: draw(st.integers(min_value=0, max_value=len(line) - 1))]
        elif kind == "insert-bytes":
            at = draw(st.integers(min_value=0, max_value=len(line)))
            junk = draw(st.sampled_from(INVALID_UTF8) | st.binary(min_size=1, max_size=8))
            lines[i] = line[:at] + junk + line[at:]
        elif kind == "flip" and line:
            at = draw(st.integers(min_value=0, max_value=len(line) - 1))
            lines[i] = _flip(line, at, draw(st.integers(min_value=0, max_value=7)))
        elif kind == "duplicate":
            lines.insert(i, line)
        elif kind == "swap":
            j = draw(st.integers(min_value=0, max_value=len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif kind == "crlf":
            lines[i] = line + b"\r"
    body = b"\n".join(lines) + b"\n" if lines else b""
    return source.name, body if drop_header else header + b"\n" + body


# --- stores ---------------------------------------------------------------------------------------


def copy_store(source: Path, target: Path) -> str:
    for suffix in ("", "-wal", "-shm"):
        stale = Path(f"{target}{suffix}")
        if stale.exists():
            stale.unlink()
        origin = Path(f"{source}{suffix}")
        if origin.exists():
            shutil.copy(origin, stale)
    return f"sqlite:///{target}"


@contextlib.contextmanager
def cipher_key(key: str | None) -> Iterator[None]:
    """EVENTSTATE_CIPHER_KEY set to `key` (unset for None) for the block."""
    saved = os.environ.get(_KEY_VAR)
    if key is None:
        os.environ.pop(_KEY_VAR, None)
    else:
        os.environ[_KEY_VAR] = key
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(_KEY_VAR, None)
        else:
            os.environ[_KEY_VAR] = saved


@dataclass(frozen=True)
class Template:
    """A small store to copy for each example."""

    name: str
    path: Path
    key: str | None  # its cipher key, if encrypted
    positions: int  # events in it


def _snapshot(store: Any) -> tuple[Any, ...]:
    """Everything an import may write: every event row (with its hash) and the meta."""
    backend: Any = store.backend
    meta = backend.read_meta()
    return (tuple(tuple(r) for r in backend.iter_full_rows()), meta)


def build_templates(folder: Path) -> dict[str, Template]:
    """`empty`; `legacy` (the 1.14 fixture: every read upcasts); `current` (3.0 events
    written through the repository); `encrypted` (the same, with a cipher key). All
    but `empty` have a live projection copy."""
    from eventstate.api import new_cipher_key, open_store
    from eventstate.interchange import import_jsonl
    from eventstate.repository import Repository
    from projections import service

    folder.mkdir(parents=True, exist_ok=True)
    templates = {}
    for name in ("empty", "legacy", "current", "encrypted"):
        key = new_cipher_key() if name == "encrypted" else None
        path = folder / f"template-{name}.db"
        with cipher_key(key):
            store = open_store(f"sqlite:///{path}")
            if name == "legacy":
                import_jsonl(store, FIXTURES / "legacy-1.14.jsonl")
            elif name != "empty":
                _write_environment(Repository(store))
            if name != "empty":
                service.machines(store)  # builds the live projection copy
            positions = store.head()
            store.close()
        templates[name] = Template(name, path, key, positions)
    return templates


def _write_environment(repo: Any) -> None:
    model = repo.create_model(
        "fuzz",
        provider_type="ec2",
        cloud_region="us-east-1",
        cloud_credential="aws/admin/default",
        model_uuid="f0220000-0000-4000-8000-000000000000",
        config={"logging-config": "<root>=INFO"},
    )
    repo.set_model_agent_version(model, "3.0.1")
    for n in range(4):
        machine = repo.add_machine(model, base="ubuntu@22.04", jobs=["JobHostUnits"])
        repo.provision_machine(
            model,
            machine,
            instance_id=f"i-{n:04x}",
            nonce=f"machine-{n}:1",
            hardware={"arch": "amd64", "mem_mib": 4096},
        )
        repo.set_machine_addresses(model, machine, [f"10.0.0.{n + 1}", f"54.1.2.{n + 1}"])
        repo.assign_unit(model, f"wordpress/{n}", machine)
    repo.add_machine(model, base="ubuntu@22.04", parent="0", container_type="lxd")
    repo.set_machine_life(model, "3", "dying")
    repo.destroy_unit(model, "wordpress/3")


# --- the import properties -------------------------------------------------------------------


@dataclass
class Tally:
    """What a property saw: inputs tried, outcomes, the slowest example."""

    name: str
    tried: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    slowest_s: float = 0.0
    failure: str = ""  # the falsifying example's error, when the property broke

    def add(self, outcome: str, seconds: float) -> None:
        self.tried += 1
        self.outcomes[outcome] += 1
        self.slowest_s = max(self.slowest_s, seconds)

    @property
    def bugs(self) -> int:
        return sum(n for outcome, n in self.outcomes.items() if outcome.startswith("BUG"))


def check_import(base: Template, scratch: Path, content: bytes) -> str:
    """Import `content` into a copy of `base`: "imported", or "refused: <error>" with the
    store unchanged. Any other exception escapes (the property fails)."""
    from eventstate.api import open_store
    from eventstate.errors import EventStateError
    from eventstate.interchange import import_jsonl

    url = copy_store(base.path, scratch / "import.db")
    source = scratch / "hostile.jsonl"
    source.write_bytes(content)
    store = open_store(url)
    try:
        before = _snapshot(store)
        try:
            import_jsonl(store, source)
        except EventStateError as exc:
            if "\n" in str(exc):
                raise AssertionError(f"a multi-line error: {exc!r}") from None
            if _snapshot(store) != before:
                raise AssertionError(f"a refused import changed the store ({exc})") from None
            return f"refused: {type(exc).__name__}"
        return "imported"
    finally:
        store.close()


def check_imported_store_reads(base: Template, scratch: Path, content: bytes) -> str:
    """`check_import`, then, when it imported: both exports work and verify finds no
    error but an old-schema event that does not upcast (that one is the upgrade
    preflight's to report, by design). "BUG: ..." names what failed."""
    outcome = check_import(base, scratch, content)
    if outcome != "imported":
        return outcome
    from eventstate.api import open_store
    from eventstate.audit.verify import verify
    from eventstate.errors import UpcastError
    from eventstate.interchange import export_jsonl

    store = open_store(f"sqlite:///{scratch / 'import.db'}")
    try:
        try:
            report = verify(store)
        except Exception as exc:
            return f"BUG: verify raised {type(exc).__name__}"
        checks = {problem.check for problem in report.errors}
        if checks - {"upcast"}:
            return f"BUG: imported, then verify: {sorted(checks - {'upcast'})[0]}"
        for upcast in (False, True):
            try:
                export_jsonl(store, io.BytesIO(), upcast=upcast)
            except UpcastError:
                if not (upcast and checks):  # expected only where verify found the event
                    return "BUG: imported, then export --upcast raised UpcastError"
            except Exception as exc:  # the lossless backup must write what was imported
                which = "export --upcast" if upcast else "export"
                return f"BUG: imported, then {which} raised {type(exc).__name__}"
        if checks:
            # An old-schema event the chain cannot upcast: by design the upgrade's
            # preflight reports it (legacy logs must import as they are).
            return "imported; an old-schema event does not upcast (preflight's to report)"
        return "imported and readable"
    finally:
        store.close()


# --- the stored-payload properties ---------------------------------------------------------------


def decodes_to_map(state: bytes) -> bool:
    try:
        return type(msgpack.unpackb(state)) is dict
    except Exception:  # any failure: it does not decode
        return False


# Every integer msgpack (and orjson) can write: -2**63 .. 2**64-1.
MSGPACK_INTS = st.integers(min_value=-(2**63), max_value=2**64 - 1)


def _huge_headers() -> st.SearchStrategy[bytes]:
    """msgpack headers that declare far more than follows (up to 4 GiB)."""
    lengths = st.sampled_from([0xFFFFFFFF, 0x7FFFFFFF, 1 << 24, 65536]) | st.integers(
        256, 2**32 - 1
    )
    kinds = st.sampled_from(
        [b"\xdb", b"\xc6", b"\xdd", b"\xdf", b"\xc9"]
    )  # str, bin, array, map, ext
    return st.builds(
        lambda kind, n, tail: b"\x81\xa1a" + kind + n.to_bytes(4, "big") + tail,
        kinds,
        lengths,
        st.binary(max_size=16),
    ) | st.builds(lambda kind, n: kind + n.to_bytes(4, "big"), kinds, lengths)


def corrupt_states(original: bytes) -> st.SearchStrategy[bytes]:
    """Bytes that should not decode to a payload map (the caller filters the few that do)."""
    cut = st.integers(min_value=0, max_value=max(0, len(original) - 1))
    return st.one_of(
        st.binary(max_size=64),
        cut.map(lambda n: original[:n]),
        st.tuples(cut, st.integers(0, 7)).map(lambda a: _flip(original, *a)),
        st.binary(min_size=1, max_size=8).map(lambda junk: original + junk),
        _huge_headers(),
        # Nesting deeper than msgpack's unpacker stack (1024).
        st.integers(1024, 1_000_000).map(lambda n: b"\x81\xa1a" + b"\x91" * n + b"\xc0"),
        st.sampled_from(
            [
                b"",
                b"\xc1",
                b"\x81\xa1a\xd4\x05\x00",
                b"\xd4\x01\x00",
                b"\x81\x01\x02",
                b"\x92\x01\x02",
                b"\xa3abc",
                b"\xc0",
                msgpack.packb([{"a": 1}]),
            ]
        ),
    )


def _wrong_shape_maps(original: bytes, non_json: bool = False) -> st.SearchStrategy[bytes]:
    """Maps: the real payload with a field dropped, added or given a wrong type; random
    maps; nesting up to 200. With `non_json`, the values are ones msgpack holds and
    JSON (orjson) does not write: bytes (bin), ext types, nesting past 255."""
    try:
        payload = msgpack.unpackb(original)
    except Exception:  # an encrypted payload: random maps only
        payload = {}
    keys = sorted(payload) if isinstance(payload, dict) else []
    hostile = st.one_of(
        st.none(),
        st.booleans(),
        MSGPACK_INTS,
        st.floats(),
        st.text(max_size=10),
        st.lists(MSGPACK_INTS, max_size=3),
        st.dictionaries(st.text(max_size=4), MSGPACK_INTS, max_size=3),
        # Up to the nesting the store accepts on the way in (MAX_NESTING, 200).
        st.integers(1, 200).map(lambda n: _nest(n)),
    )
    if non_json:
        hostile = st.one_of(
            st.binary(max_size=10),
            st.builds(msgpack.ExtType, st.integers(2, 127), st.binary(max_size=4)),
            st.lists(st.binary(max_size=4), min_size=1, max_size=2),
            # Deeper than orjson writes (255): import refuses it, a stored one gets in.
            st.integers(256, 1000).map(lambda n: _nest(n)),
        )
    changed: st.SearchStrategy[dict[str, Any]] = st.builds(
        lambda key, value: {**payload, key: value},
        st.sampled_from(keys) if keys else st.just("extra"),
        hostile,
    )
    dropped: st.SearchStrategy[dict[str, Any]] = (
        st.sampled_from(keys).map(lambda key: {k: v for k, v in payload.items() if k != key})
        if keys
        else st.just({})
    )
    randoms = st.dictionaries(st.text(max_size=6), hostile, max_size=4)
    return st.one_of(changed, dropped, randoms).map(
        lambda value: msgpack.packb(value, use_bin_type=True)
    )


def _flip(original: bytes, at: int, bit: int) -> bytes:
    if not original:
        return b"\x00"
    return original[:at] + bytes([original[at] ^ (1 << bit)]) + original[at + 1 :]


def _nest(depth: int) -> Any:
    value: Any = 0
    for _ in range(depth):
        value = [value]
    return value


def read_paths(store: Any, stream: str) -> dict[str, Callable[[], object]]:
    """Every way a user reads the store (and so the hostile event)."""
    from eventstate.audit.history import iter_history
    from eventstate.interchange import export_jsonl
    from eventstate.releases import CODE_RELEASE
    from eventstate.repository import Repository
    from eventstate.streams import parse_stream
    from eventstate.upgrade.runner import run_upgrade
    from projections import runner, service

    paths: dict[str, Callable[[], object]] = {
        "read_stream": lambda: store.read_stream(stream),
        "read_stream raw": lambda: store.read_stream(stream, target=None),
        "iter_events": lambda: list(store.iter_events()),
        "history": lambda: list(iter_history(store)),
        "export": lambda: export_jsonl(store, io.BytesIO()),
        "export --upcast": lambda: export_jsonl(store, io.BytesIO(), upcast=True),
        "projections rebuild": lambda: (runner.rebuild(store), service.machines(store)),
    }
    parsed = parse_stream(stream)
    repo = Repository(store)
    if parsed.kind == "machine":
        paths["load machine"] = lambda: repo.load_machine(parsed.model_uuid, parsed.name).state
    elif parsed.kind == "model":
        paths["load model"] = lambda: repo.load_model(parsed.model_uuid).state
    if store.meta().release != CODE_RELEASE:
        paths["upgrade --dry-run"] = lambda: run_upgrade(store, dry_run=True)
    return paths


def check_stored_payload(template: Template, scratch: Path, position: int, state: bytes) -> str:
    """Write `state` as the payload at `position` of a copy of `template`; read it every
    way. Outcome: "refused"/"read" per path; "BUG: <path> raised <type>" for anything but
    an EventStateError; verify must never raise and must report the changed event."""
    import sqlite3

    from eventstate.api import open_store
    from eventstate.audit.verify import verify
    from eventstate.errors import EventStateError

    target = scratch / "payload.db"
    url = copy_store(template.path, target)
    connection = sqlite3.connect(target)
    try:
        (original, stream), *_ = connection.execute(
            "SELECT state, stream FROM events WHERE position = ?", (position,)
        ).fetchall()
        connection.execute("UPDATE events SET state = ? WHERE position = ?", (state, position))
        connection.commit()
    finally:
        connection.close()
    outcomes: list[str] = []
    with cipher_key(template.key):
        store = open_store(url, check_release=False)
        try:
            for name, read in read_paths(store, stream).items():
                try:
                    read()
                    outcomes.append("read")
                except EventStateError as exc:
                    if "\n" in str(exc):
                        return f"BUG: {name} gave a multi-line error"
                    outcomes.append("refused")
                except Exception as exc:  # what the property is about: nothing else escapes
                    return f"BUG: {name} raised {type(exc).__name__}"
            try:
                report = verify(store)
            except Exception as exc:
                return f"BUG: verify raised {type(exc).__name__}"
            if bytes(original) != state and report.ok:
                return "BUG: verify found nothing wrong"
        finally:
            store.close()
    return (
        "refused everywhere"
        if "read" not in outcomes
        else ("read everywhere" if "refused" not in outcomes else "refused somewhere")
    )


# --- hypothesis glue -----------------------------------------------------------------------------


def fuzz_settings(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,  # store work varies with the machine's load; hangs are timed apart
        suppress_health_check=list(HealthCheck),
        database=None,  # a script run leaves nothing behind
    )


def _timed(tally: Tally, check: Callable[[], str], strict: bool) -> None:
    started = time.perf_counter()
    outcome = check()
    tally.add(outcome, time.perf_counter() - started)
    if strict and outcome.startswith("BUG"):
        raise AssertionError(outcome)


def import_property(
    templates: dict[str, Template],
    scratch: Path,
    tally: Tally,
    *,
    readable: bool = False,
    strict: bool = True,
) -> Callable[..., None]:
    """A hypothesis test function: import a hostile file into an empty store or into
    the 1.14 fixture; with `readable`, also read the store after an accepted import."""
    check = check_imported_store_reads if readable else check_import
    files = hostile_files(PAYLOAD_MUTATIONS, 1) if readable else hostile_files()

    @given(st.sampled_from(["empty", "legacy"]), files)
    def prop(base: str, file: tuple[str, bytes]) -> None:
        _timed(tally, lambda: check(templates[base], scratch, file[1]), strict)

    return prop


def payload_property(
    templates: dict[str, Template],
    scratch: Path,
    tally: Tally,
    *,
    maps: bool = False,
    non_json: bool = False,
    strict: bool = True,
) -> Callable[..., None]:
    """A hypothesis test function: hostile bytes at a random position of a template.
    Without `maps`, only bytes that do not decode to a map (always, for the encrypted
    template); with `maps`, only maps (of non-JSON values, with `non_json`)."""
    names = ["legacy", "current", "encrypted"] if not maps else ["legacy", "current"]

    @st.composite
    def cases(draw: st.DrawFn) -> tuple[Template, int, bytes]:
        template = templates[draw(st.sampled_from(names))]
        position = draw(st.integers(min_value=1, max_value=template.positions))
        original = _stored(template, position)
        if maps:
            state = draw(_wrong_shape_maps(original, non_json))
        else:
            state = draw(corrupt_states(original))
            if template.key is None and decodes_to_map(state):
                state = b"\xc1" + state  # 0xc1 is never valid msgpack: keep it corrupt
        return template, position, state

    @given(cases())
    def prop(case: tuple[Template, int, bytes]) -> None:
        template, position, state = case
        _timed(tally, lambda: check_stored_payload(template, scratch, position, state), strict)

    return prop


@cache
def _stored_cache(path: Path, position: int) -> bytes:
    import sqlite3

    connection = sqlite3.connect(path)
    try:
        row = connection.execute(
            "SELECT state FROM events WHERE position = ?", (position,)
        ).fetchone()
    finally:
        connection.close()
    return bytes(row[0])


def _stored(template: Template, position: int) -> bytes:
    return _stored_cache(template.path, position)


# --- the script ---------------------------------------------------------------------------------


PROPERTIES: dict[str, tuple[str, bool]] = {
    # name: (what, strict: a BUG outcome fails the run)
    "import": ("hostile JSONL files: refused cleanly and nothing written, or imported", True),
    "import-readable": ("an imported hostile file exports and verifies", True),
    "payload-bytes": ("stored bytes that are not a payload: CorruptEventError on every read", True),
    "payload-maps": ("stored maps of the wrong shape: an eventstate error or a read", True),
    "payload-values": (
        "stored maps holding bytes, ext types or 256+ nesting: an eventstate error",
        True,
    ),
}


def run(name: str, templates: dict[str, Template], scratch: Path, examples: int) -> Tally:
    tally = Tally(name)
    strict = PROPERTIES[name][1]
    prop: Callable[..., None]
    if name.startswith("import"):
        prop = import_property(
            templates, scratch, tally, readable=name == "import-readable", strict=strict
        )
    else:
        prop = payload_property(
            templates,
            scratch,
            tally,
            maps=name != "payload-bytes",
            non_json=name == "payload-values",
            strict=strict,
        )
    try:
        fuzz_settings(examples)(prop)()
    except AssertionError as exc:  # the property broke: hypothesis shrank it and re-raised
        tally.failure = str(exc).splitlines()[0][:300]
    return tally


def print_tallies(tallies: list[Tally], peak_rss_mb: float, seconds: float) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="fuzz: hostile input")
    for column in ("property", "inputs tried", "bugs found", "slowest input (s)", "must hold"):
        table.add_column(column, justify="left" if column == "property" else "right")
    for tally in tallies:
        strict = "yes" if PROPERTIES[tally.name][1] else "no (known bug)"
        table.add_row(
            tally.name, str(tally.tried), str(tally.bugs), f"{tally.slowest_s:.2f}", strict
        )
    console = Console()
    console.print(table)
    console.print(
        f"inputs tried in all: {sum(t.tried for t in tallies)} in {seconds:.0f} s; "
        f"peak RSS {peak_rss_mb:.0f} MB"
    )
    for tally in tallies:
        console.print(f"{tally.name}: {PROPERTIES[tally.name][0]}")
        for outcome, count in tally.outcomes.most_common():
            console.print(f"    {count:6d}  {outcome}")
        if tally.failure:
            console.print(f"    PROPERTY BROKEN: {tally.failure}")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.fuzz", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--examples", type=int, default=2000, help="inputs per property")
    parser.add_argument(
        "--only", choices=sorted(PROPERTIES), action="append", help="run only these"
    )
    args = parser.parse_args(argv)
    os.environ.pop(_KEY_VAR, None)
    tallies = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="eventstate-fuzz-") as scratch:
        templates = build_templates(Path(scratch) / "templates")
        for name in args.only or list(PROPERTIES):
            tallies.append(run(name, templates, Path(scratch), args.examples))
    print_tallies(tallies, peak_rss_mb(), time.perf_counter() - started)
    broken = any(t.failure for t in tallies if PROPERTIES[t.name][1])
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
