"""GS1 EPCIS 2.0: the store as an EPCISDocument (export), EPCIS documents into the store (import).

Export (``heitu export epcis``) turns the lineage store into JSON-LD events: a harvest is an
ObjectEvent ADD (commissioning) with the plot in its ILMD, a processing record a
TransformationEvent, a shipment a shipping and a receiving ObjectEvent (and a transporting one
carrying the truck's temperature readings), a sale a retail_selling ObjectEvent. Parties, plots
and products go along as master data in the header, so a store rebuilt from the document answers
``trace back`` and ``trace forward`` exactly as the one that wrote it.

Import (the ``epcis`` source, ``inbox/epcis/``) reads a document, checks it against the GS1
JSON schema (a document that fails is unreadable as a whole), and feeds each event to the same
ingest engine as the CSV sources: one row per event, keyed by its eventID. A schema-valid event
is always stored (never parked), whatever lots and parties it names; the lots, edges, shipments,
readings and sales it implies are added where they are missing, so lineage links up when the
other side arrives.

Event ids are EPCIS event hashes (``ni:///sha-256;...?ver=CBV2.0``), computed by our own
implementation of the CBV 2.0 algorithm (``event_hash``), tested against GS1's reference
implementation (epcis-event-hash-generator). docs/epcis.md has the mapping both ways.

Only the standard library, SQLAlchemy, biip and (for validation) jsonschema are imported: no
pandas, no GIS stack.

One module per concern, each below the next: ``digital_link`` (GS1 keys as canonical Digital
Link URIs), ``ids`` (our URIs, GS1 URNs, the vocabularies), ``hashing`` (the event hash),
``schema`` (the GS1 JSON schema), ``export`` (the store -> a document) and ``capture`` (a
document -> the ``epcis`` source's rows and the store rows they imply).
"""

from traceability.epcis.capture import apply_row, document_rows, parse_row
from traceability.epcis.digital_link import normalise_gs1_uri
from traceability.epcis.export import EXPORT_CHUNK, export_epcis
from traceability.epcis.hashing import event_hash, prefixes, prehash
from traceability.epcis.ids import CONTEXT, HEITU_NS, lot_class, lot_of, our_uri
from traceability.epcis.schema import (
    BUNDLED_SCHEMA,
    SHARED_SCHEMA,
    EpcisError,
    schema_path,
    validate,
)

__all__ = [
    "BUNDLED_SCHEMA",
    "CONTEXT",
    "EXPORT_CHUNK",
    "HEITU_NS",
    "SHARED_SCHEMA",
    "EpcisError",
    "apply_row",
    "document_rows",
    "event_hash",
    "export_epcis",
    "lot_class",
    "lot_of",
    "normalise_gs1_uri",
    "our_uri",
    "parse_row",
    "prefixes",
    "prehash",
    "schema_path",
    "validate",
]
