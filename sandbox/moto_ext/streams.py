"""DynamoDB streams and transactions, fixed so that stream consumers can rely on them.

The sandbox data plane (sandbox/dataplane) reads every table's stream through the normal
DynamoDB Streams API, as Lambda's event source mapping does on AWS. moto gets three things
wrong there:

- ``TransactWriteItems`` deep-copies every table it touches before it starts and, when the
  transaction is cancelled (a condition failed: the ledger's idempotent repeat), puts the
  copies back in place of the tables. The copied table carries a copied stream shard, so
  every shard iterator handed out before keeps reading the old shard and never sees another
  record; and the copy costs time proportional to the table's size on every transaction.
  Here the transaction saves only the items it is about to write and restores those (and
  truncates the stream to where it was) when it is cancelled; the table stays the same object.
- A stream record's ``awsRegion`` is always ``us-east-1``: here it is the table's region.
- When an event source mapping exists on a table, moto invokes the function on every write
  and then EMPTIES the stream (later records reuse sequence numbers). In the sandbox the data
  plane runs the stream consumers itself, so records are only appended, never dispatched.
- Every shard iterator ever handed out is kept forever; a polling consumer makes several a
  second. Here an iterator is forgotten once used (consumers follow NextShardIterator).
"""

from __future__ import annotations

import copy
import time
from typing import Any

from moto.dynamodb import models as dynamodb_models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import StreamRecord, StreamShard, Table
from moto.dynamodbstreams.models import DynamoDBStreamsBackend

_original_transact = DynamoDBBackend.transact_write_items
_original_get_records = DynamoDBStreamsBackend.get_records


class _CopyWithoutTables:
    """Stands in for ``copy`` in moto's dynamodb models: deepcopy of a Table is the table itself
    (the per-item undo below replaces moto's whole-table backup); everything else is copied."""

    @staticmethod
    def deepcopy(value: Any, memo: Any = None) -> Any:
        if isinstance(value, Table):
            return value
        return copy.deepcopy(value, memo)


def _key_of(table: Table, attrs: dict[str, Any]) -> tuple[DynamoType, DynamoType | None] | None:
    try:
        hash_value = DynamoType(attrs[table.hash_key_attr])
        range_value = DynamoType(attrs[table.range_key_attr]) if table.range_key_attr else None
    except (KeyError, TypeError):
        return None  # moto's own validation reports it
    return hash_value, range_value


def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    undo: dict[str, tuple[Table, int, list[tuple[DynamoType, DynamoType | None, Any]]]] = {}
    for entry in transact_items:
        if len(entry) != 1:
            continue
        op_type, op = next(iter(entry.items()))
        table = self.tables.get(op.get("TableName")) if isinstance(op, dict) else None
        if table is None:
            continue
        key = _key_of(table, op.get("Item") if op_type == "Put" else op.get("Key") or {})
        if key is None:
            continue
        shard = table.stream_shard
        state = undo.setdefault(table.name, (table, len(shard.items) if shard is not None else 0, []))
        current = table.get_item(*key) if (key[1] is not None or not table.range_key_attr) else None
        state[2].append((key[0], key[1], copy.deepcopy(current)))
    try:
        _original_transact(self, transact_items)
    except Exception:
        for name, (table, stream_length, saved) in undo.items():
            self.tables[name] = table
            for hash_value, range_value, item in reversed(saved):
                if range_value is not None:
                    if item is None:
                        table.items.get(hash_value, {}).pop(range_value, None)
                    else:
                        table.items[hash_value][range_value] = item
                elif item is None:
                    table.items.pop(hash_value, None)
                else:
                    table.items[hash_value] = item
            if table.stream_shard is not None:
                del table.stream_shard.items[stream_length:]
        raise


def stream_shard_add(self: StreamShard, old: Any, new: Any) -> None:
    event_name = "INSERT" if old is None else ("REMOVE" if new is None else "MODIFY")
    seq = len(self.items) + self.starting_sequence_number
    record = StreamRecord(self.table, self.table.stream_specification["StreamViewType"], event_name, old, new, seq)
    record.record["awsRegion"] = self.table.region_name
    # Epoch seconds, as the DynamoDB Streams API returns it (moto puts a naive datetime here).
    record.record["dynamodb"]["ApproximateCreationDateTime"] = time.time()
    self.items.append(record)


def install() -> None:
    dynamodb_models.copy = _CopyWithoutTables  # type: ignore[assignment]
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    StreamShard.add = stream_shard_add  # type: ignore[method-assign]
    DynamoDBStreamsBackend.get_records = get_records  # type: ignore[method-assign]


def get_records(self: DynamoDBStreamsBackend, iterator_arn: str, limit: int) -> dict[str, Any]:
    """moto's, forgetting the iterator once used: consumers go on with NextShardIterator, and
    moto would otherwise keep every iterator ever handed out (a steady leak under polling)."""
    result = _original_get_records(self, iterator_arn, limit)
    self.shard_iterators.pop(iterator_arn, None)
    return result
