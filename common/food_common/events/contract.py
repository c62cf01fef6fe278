"""The event contract: an AsyncAPI 3 document that says, for every event type, its version, its
producer, the queues that consume it and the JSON Schema of its `data`.

The code reads it instead of copies of it: `publish()` refuses an event whose data breaks it or
that this service does not produce, the relay sends each event to the queues it lists, the system
check `events.E002`/`E003` compares the handlers with it, the metrics take their event types from
it, and `docs/events.md` is rendered from it (`python -m food_common.events.contract`). The
document's conventions are in its own `info.description`; loading checks them.

The file is the setting EVENT_CONTRACT_FILE; it is read once per process.
"""

import argparse
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import jsonschema
import yaml

ENVELOPE_SCHEMA = "#/components/schemas/Envelope"


class ContractViolation(Exception):
    """An event, or the code around it, disagrees with the contract."""


class ContractError(Exception):
    """The contract document itself is not one this module can read."""


@dataclass(frozen=True)
class EventContract:
    """One event type as the contract describes it."""

    type: str
    version: int
    producer: str
    consumers: tuple[str, ...]  # queues
    title: str
    description: str
    schema: dict = field(repr=False)  # of `data`, its $refs resolved
    consumer_summaries: dict = field(default_factory=dict, repr=False, compare=False)
    _validator: object = field(default=None, repr=False, compare=False)

    def errors(self, data: object) -> list[str]:
        """Return what is wrong with `data` (empty: it is what the contract describes)."""
        return [
            f"{'/'.join(map(str, error.absolute_path)) or '(data)'}: {error.message}"
            for error in sorted(self._validator.iter_errors(data), key=lambda e: list(e.path))
        ]

    def validate(self, data: object) -> None:
        """Raise ContractViolation if `data` is not what the contract describes."""
        if not self._validator.is_valid(data):
            raise ContractViolation(
                f"{self.type} v{self.version} data breaks the contract: "
                + "; ".join(self.errors(data))
            )


class Contract:
    """The events of one contract document, by type."""

    def __init__(self, document: dict, source: str = "<contract>"):
        if not isinstance(document, dict):
            raise ContractError(f"{source}: not an AsyncAPI document")
        self.document = document
        self.source = source
        self.envelope_schema = _resolved(document, {"$ref": ENVELOPE_SCHEMA}, source)
        self._envelope_validator = _validator(self.envelope_schema)
        self.events: dict[str, EventContract] = _read_events(document, source)

    def event(self, event_type: str) -> EventContract:
        """Return the contract of `event_type`; ContractViolation if it has none."""
        try:
            return self.events[event_type]
        except KeyError:
            raise ContractViolation(
                f"{event_type!r} is not an event of the contract ({self.source})"
            ) from None

    def validate(self, event_type: str, data: object) -> None:
        """Raise ContractViolation if `event_type` is unknown or `data` breaks its schema."""
        self.event(event_type).validate(data)

    def validate_envelope(self, envelope: dict) -> None:
        """Raise ContractViolation unless `envelope` is one its producer may send, data included."""
        problems = [
            f"{'/'.join(map(str, e.absolute_path)) or '(envelope)'}: {e.message}"
            for e in self._envelope_validator.iter_errors(envelope)
        ]
        if problems:
            raise ContractViolation("the envelope breaks the contract: " + "; ".join(problems))
        spec = self.event(envelope["type"])
        for name, expected in (("version", spec.version), ("producer", spec.producer)):
            if envelope[name] != expected:
                raise ContractViolation(
                    f"{spec.type}: {name} {envelope[name]!r}, the contract says {expected!r}"
                )
        spec.validate(envelope["data"])

    def consumers_of(self, event_type: str) -> tuple[str, ...]:
        """Return the queues that receive `event_type` (none for a type the contract lacks)."""
        spec = self.events.get(event_type)
        return spec.consumers if spec else ()

    def produced_by(self, service: str) -> list[str]:
        return [t for t, spec in self.events.items() if spec.producer == service]

    def consumed_on(self, queues) -> set[tuple[str, str]]:
        """Return the (event type, queue) pairs the contract lists for these queues."""
        return {(t, q) for t, spec in self.events.items() for q in spec.consumers if q in queues}


def _read_events(document: dict, source: str) -> dict[str, EventContract]:
    if not str(document.get("asyncapi", "")).startswith("3."):
        raise ContractError(f"{source}: not an AsyncAPI 3 document")
    channels = document.get("channels") or {}
    producers: dict[str, list[str]] = {key: [] for key in channels}
    consumers: dict[str, dict[str, str]] = {key: {} for key in channels}
    for name, operation in (document.get("operations") or {}).items():
        key = _channel_key(operation.get("channel", {}), f"{source}: operation {name}")
        if key not in channels:
            raise ContractError(f"{source}: operation {name} names no channel of the document")
        if operation.get("action") == "send":
            producers[key].append(_text(operation, "x-producer", f"{source}: operation {name}"))
        elif operation.get("action") != "receive":
            raise ContractError(f"{source}: operation {name}: action is send or receive")
        else:
            queue = _text(operation, "x-consumer", f"{source}: operation {name}")
            if queue in consumers[key]:
                raise ContractError(f"{source}: queue {queue!r} receives {key} twice")
            consumers[key][queue] = operation.get("summary", "")
    events = {}
    for key, channel in channels.items():
        where = f"{source}: channel {key}"
        event_type = _text(channel, "address", where)
        if len(producers[key]) != 1:
            raise ContractError(f"{where}: one send operation (x-producer) expected")
        messages = list((channel.get("messages") or {}).values())
        if len(messages) != 1:
            raise ContractError(f"{where}: one message expected")
        message = _follow(document, messages[0], where)
        version = message.get("x-version")
        if not isinstance(version, int) or version < 1:
            raise ContractError(f"{where}: the message needs an integer x-version")
        data_schema = _resolved(document, _data_schema(message.get("payload") or {}, where), where)
        if event_type in events:
            raise ContractError(f"{where}: {event_type} is described twice")
        events[event_type] = EventContract(
            type=event_type,
            version=version,
            producer=producers[key][0],
            consumers=tuple(consumers[key]),
            title=message.get("title") or channel.get("title") or event_type,
            description=" ".join(
                part.strip()
                for part in (message.get("summary"), message.get("description"))
                if part
            ),
            schema=data_schema,
            consumer_summaries=dict(consumers[key]),
            _validator=_validator(data_schema),
        )
    return events


def _data_schema(payload: dict, where: str) -> dict:
    """Return the schema of `data` in a payload `allOf: [Envelope, {properties: {data: ...}}]`."""
    parts = payload.get("allOf") or []
    if {"$ref": ENVELOPE_SCHEMA} not in parts:
        raise ContractError(f"{where}: the payload must be allOf the Envelope and its data")
    for part in parts:
        data = (part.get("properties") or {}).get("data")
        if data is not None:
            return data
    raise ContractError(f"{where}: the payload does not describe its data")


def _channel_key(reference: dict, where: str) -> str:
    ref = reference.get("$ref", "")
    if not ref.startswith("#/channels/"):
        raise ContractError(f"{where}: its channel must be a $ref to #/channels/...")
    return _unescape(ref.removeprefix("#/channels/"))


def _text(node: dict, name: str, where: str) -> str:
    value = node.get(name)
    if not isinstance(value, str) or not value:
        raise ContractError(f"{where}: {name} must be a non-empty string")
    return value


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def _follow(document: dict, node: dict, where: str) -> dict:
    """Return what `node` points to if it is a local $ref (one step), else `node`."""
    ref = node.get("$ref")
    if not isinstance(ref, str):
        return node
    if not ref.startswith("#/"):
        raise ContractError(f"{where}: cannot resolve $ref {ref!r}")
    target = document
    for token in ref[2:].split("/"):
        try:
            target = target[_unescape(token)]
        except (KeyError, TypeError):
            raise ContractError(f"{where}: $ref {ref!r} points to nothing") from None
    return target


def _resolved(document: dict, node, where: str, seen: tuple = ()):
    """Return `node` with its local $refs replaced by what they point to (the schemas are small
    and not recursive: validating a plain schema is faster than resolving on every call)."""
    if isinstance(node, list):
        return [_resolved(document, item, where, seen) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str):
        if ref in seen:
            raise ContractError(f"{where}: $ref {ref!r} is recursive")
        return _resolved(document, _follow(document, node, where), where, (*seen, ref))
    return {key: _resolved(document, value, where, seen) for key, value in node.items()}


def _validator(schema: dict):
    # AsyncAPI's default schema format is a superset of JSON Schema draft 7.
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


@lru_cache(maxsize=8)
def load(path: str) -> Contract:
    """Return the contract of the AsyncAPI document at `path` (read once per path)."""
    try:
        return Contract(yaml.safe_load(Path(path).read_text(encoding="utf-8")), source=str(path))
    except (OSError, yaml.YAMLError, jsonschema.SchemaError) as exc:
        raise ContractError(f"event contract {path} cannot be read: {exc}") from exc


def get_contract() -> Contract:
    """Return this project's contract (the setting EVENT_CONTRACT_FILE)."""
    from django.conf import settings

    return load(str(settings.EVENT_CONTRACT_FILE))


# -- the events as a page of documentation -----------------------------------------------------


def render_markdown(contract: Contract, *, source_name: str) -> str:
    """Return the Markdown page that shows the contract's events (docs/events.md)."""
    info = contract.document.get("info", {})
    lines = [
        f"# {info.get('title', 'Events')}",
        "",
        f"<!-- Rendered from {source_name} by `python -m food_common.events.contract "
        f"{source_name} --write <this file>`: edit the contract, not this page. -->",
        "",
        info.get("description", "").strip(),
        "",
        "| event | version | producer | consumers (queues) | what happened |",
        "|---|---|---|---|---|",
    ]
    for spec in contract.events.values():
        consumers = ", ".join(spec.consumers) or "none"
        summary = _first_sentence(spec.description) or spec.title
        lines.append(
            f"| [`{spec.type}`](#{_anchor(spec.type)}) | {spec.version} | {spec.producer} "
            f"| {consumers} | {summary} |"
        )
    lines += ["", "## The envelope", "", _cell(contract.envelope_schema.get("description")), ""]
    lines += _field_table(contract.envelope_schema)
    for spec in contract.events.values():
        lines += ["", f"## {spec.type}", ""]
        lines += [
            f"Version {spec.version}, produced by **{spec.producer}**. {spec.description}".strip(),
            "",
        ]
        if spec.consumer_summaries:
            lines += ["Consumed by:", ""]
            lines += [f"- **{q}**: {s}".rstrip(": ") for q, s in spec.consumer_summaries.items()]
        else:
            lines.append("No queue consumes it.")
        lines += ["", "`data`:", ""]
        lines += _field_table(spec.schema)
    return "\n".join(lines).rstrip() + "\n"


def _field_table(schema: dict) -> list[str]:
    rows = ["| field | type | required | description |", "|---|---|---|---|"]
    rows += list(_field_rows(schema, prefix=""))
    return rows


def _field_rows(schema: dict, prefix: str):
    required = set(schema.get("required", ()))
    for name, prop in (schema.get("properties") or {}).items():
        path = f"{prefix}{name}"
        yield (
            f"| `{path}` | {_type_of(prop)} | {'yes' if name in required else 'no'} "
            f"| {_cell(prop.get('description'))} |"
        )
        if prop.get("type") == "array" and isinstance(prop.get("items"), dict):
            yield from _field_rows(prop["items"], prefix=f"{path}[].")
        elif prop.get("type") == "object" and prop.get("properties"):
            yield from _field_rows(prop, prefix=f"{path}.")


def _type_of(prop: dict) -> str:
    kind = prop.get("type", "any")
    if kind == "array":
        kind = f"array of {(prop.get('items') or {}).get('type', 'any')}"
    details = []
    if "enum" in prop:
        details.append("one of " + ", ".join(f"`{v}`" for v in prop["enum"]))
    if "pattern" in prop:
        details.append(f"`{prop['pattern']}`")
    if "format" in prop:
        details.append(prop["format"])
    if "minimum" in prop:
        details.append(f"≥ {prop['minimum']}")
    if "minItems" in prop:
        details.append(f"at least {prop['minItems']}")
    return kind + (f" ({', '.join(details)})" if details else "")


def _cell(text) -> str:
    return " ".join(str(text or "").split()).replace("|", "\\|")


def _first_sentence(text: str) -> str:
    return _cell(text).split(". ")[0].rstrip(".")


def _anchor(heading: str) -> str:
    # GitHub's heading ids: lower case, punctuation but - and _ dropped, blanks as -.
    return "".join(c for c in heading.lower() if c.isalnum() or c in "-_ ").replace(" ", "-")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m food_common.events.contract",
        description="Check an AsyncAPI event contract and render its events as Markdown.",
    )
    parser.add_argument("contract", help="the AsyncAPI document, e.g. contracts/asyncapi.yaml")
    parser.add_argument("--write", metavar="FILE", help="write the page to FILE (else stdout)")
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if FILE is not what would be written"
    )
    args = parser.parse_args(argv)
    try:
        contract = load(args.contract)
    except ContractError as exc:
        print(f"invalid contract: {exc}", file=sys.stderr)
        return 1
    page = render_markdown(contract, source_name=args.contract)
    if not args.write:
        sys.stdout.write(page)
        return 0
    target = Path(args.write)
    if args.check:
        if not target.exists() or target.read_text(encoding="utf-8") != page:
            print(f"{target} is out of date: run without --check to write it", file=sys.stderr)
            return 1
        return 0
    target.write_text(page, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
