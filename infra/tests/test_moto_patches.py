"""The patched moto keeps DynamoDB's promises (infra/moto_patches/), checked through the
endpoint's HTTP interface with boto3. Run: .venv/bin/python -m unittest discover infra/tests"""

from __future__ import annotations

import gc
import random
import unittest
import uuid
from unittest import mock

import support  # noqa: F401  (starts the endpoint, applies the patches)
import moto_patches
from botocore.exceptions import ClientError


def new_table(ddb) -> str:  # type: ignore[no-untyped-def]
    name = f"t-{uuid.uuid4().hex[:12]}"
    ddb.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk", "g", "gs")
        ],
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "gsi",
                "KeySchema": [
                    {"AttributeName": "g", "KeyType": "HASH"},
                    {"AttributeName": "gs", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    return name


def item(pk: str, sk: str = "x", **attrs: str) -> dict:
    out = {"pk": {"S": pk}, "sk": {"S": sk}}
    out.update({k: {"S": v} for k, v in attrs.items()})
    return out


class Stream:
    """A reader of a table's stream from the position it was created at."""

    def __init__(self, table: str) -> None:
        self.ddb = support.client("dynamodb")
        self.streams = support.client("dynamodbstreams")
        arn = self.ddb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
        shard = self.streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]
        self.iterator = self.streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="LATEST"
        )["ShardIterator"]

    def read(self) -> list[tuple[str, str]]:
        out = self.streams.get_records(ShardIterator=self.iterator)
        self.iterator = out["NextShardIterator"]
        return [
            (r["eventName"], r["dynamodb"]["Keys"]["pk"]["S"]) for r in out["Records"]
        ]


class UnitsOfWork(unittest.TestCase):
    def setUp(self) -> None:
        self.ddb = support.client("dynamodb")
        self.table = new_table(self.ddb)

    def put(self, pk: str, **attrs: str) -> dict:
        return {"Put": {"TableName": self.table, "Item": item(pk, **attrs)}}

    def test_a_cancelled_transaction_changes_nothing_and_reaches_no_stream_reader(self) -> None:
        self.ddb.put_item(TableName=self.table, Item=item("taken"))
        stream = Stream(self.table)
        with self.assertRaises(ClientError) as raised:
            self.ddb.transact_write_items(
                TransactItems=[
                    self.put("new-user"),
                    {
                        "Put": {
                            "TableName": self.table,
                            "Item": item("taken"),
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                    self.put("outbox"),
                ]
            )
        self.assertEqual(raised.exception.response["Error"]["Code"], "TransactionCanceledException")
        self.assertNotIn("Item", self.ddb.get_item(TableName=self.table, Key=item("new-user")))
        self.assertEqual(stream.read(), [])
        # The reader is not stranded on a discarded copy of the table: later writes reach it.
        self.ddb.put_item(TableName=self.table, Item=item("after"))
        self.assertEqual(stream.read(), [("INSERT", "after")])

    def test_a_committed_transaction_writes_one_record_per_item(self) -> None:
        stream = Stream(self.table)
        self.ddb.transact_write_items(TransactItems=[self.put("a"), self.put("b")])
        self.assertEqual(stream.read(), [("INSERT", "a"), ("INSERT", "b")])

    def test_an_update_that_creates_an_item_is_one_insert(self) -> None:
        stream = Stream(self.table)
        self.ddb.update_item(
            TableName=self.table,
            Key=item("counter"),
            UpdateExpression="ADD n :one",
            ExpressionAttributeValues={":one": {"N": "1"}},
        )
        self.assertEqual(stream.read(), [("INSERT", "counter")])

    def test_a_write_that_changes_nothing_writes_no_record(self) -> None:
        self.ddb.put_item(TableName=self.table, Item=item("same", v="1"))
        stream = Stream(self.table)
        self.ddb.put_item(TableName=self.table, Item=item("same", v="1"))
        self.ddb.put_item(TableName=self.table, Item=item("same", v="2"))
        self.assertEqual(stream.read(), [("MODIFY", "same")])

    def test_a_failed_update_leaves_no_item_behind(self) -> None:
        with self.assertRaises(ClientError):
            self.ddb.update_item(
                TableName=self.table,
                Key=item("ghost"),
                UpdateExpression="SET big = :v",
                ExpressionAttributeValues={":v": {"S": "x" * 410_000}},
            )
        self.assertNotIn("Item", self.ddb.get_item(TableName=self.table, Key=item("ghost")))

    def test_a_transaction_never_copies_a_table(self) -> None:
        from moto.dynamodb.models.table import Table

        for i in range(50):
            self.ddb.put_item(TableName=self.table, Item=item(f"bulk-{i}"))
        with mock.patch.object(Table, "__deepcopy__", side_effect=AssertionError("copied"), create=True):
            with self.assertRaises(ClientError):
                self.ddb.transact_write_items(
                    TransactItems=[
                        self.put("one"),
                        {
                            "ConditionCheck": {
                                "TableName": self.table,
                                "Key": item("missing"),
                                "ConditionExpression": "attribute_exists(pk)",
                            }
                        },
                    ]
                )
            self.ddb.transact_write_items(TransactItems=[self.put("two")])
        self.assertNotIn("Item", self.ddb.get_item(TableName=self.table, Key=item("one")))
        self.assertIn("Item", self.ddb.get_item(TableName=self.table, Key=item("two")))

    def test_a_retried_transaction_token_is_applied_once(self) -> None:
        token = uuid.uuid4().hex
        items = [
            {
                "Put": {
                    "TableName": self.table,
                    "Item": item("once"),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
        ]
        self.ddb.transact_write_items(TransactItems=items, ClientRequestToken=token)
        # The same token again (an SDK retry after a lost answer) succeeds without re-applying.
        self.ddb.transact_write_items(TransactItems=items, ClientRequestToken=token)
        with self.assertRaises(ClientError) as raised:
            self.ddb.transact_write_items(
                TransactItems=[self.put("other")], ClientRequestToken=token
            )
        self.assertEqual(
            raised.exception.response["Error"]["Code"], "IdempotentParameterMismatchException"
        )
        # A new token is a new request: its condition fails.
        with self.assertRaises(ClientError):
            self.ddb.transact_write_items(TransactItems=items, ClientRequestToken=uuid.uuid4().hex)


class Validation(unittest.TestCase):
    def test_unused_expression_attributes_are_refused_as_dynamodb_refuses_them(self) -> None:
        ddb = support.client("dynamodb")
        table = new_table(ddb)
        with self.assertRaises(ClientError) as raised:
            ddb.put_item(
                TableName=table,
                Item=item("a"),
                ConditionExpression="attribute_not_exists(pk)",
                ExpressionAttributeValues={":unused": {"S": "x"}},
            )
        error = raised.exception.response["Error"]
        self.assertEqual(error["Code"], "ValidationException")
        self.assertIn("ExpressionAttributeValues unused in expressions: keys: {:unused}", error["Message"])
        with self.assertRaises(ClientError) as raised:
            ddb.transact_write_items(
                TransactItems=[
                    {
                        "Update": {
                            "TableName": table,
                            "Key": item("a"),
                            "UpdateExpression": "SET v = :v",
                            "ExpressionAttributeValues": {":v": {"S": "1"}},
                            "ExpressionAttributeNames": {"#gone": "gone"},
                        }
                    }
                ]
            )
        self.assertIn("ExpressionAttributeNames unused", raised.exception.response["Error"]["Message"])
        # Every key used: accepted.
        ddb.update_item(
            TableName=table,
            Key=item("a"),
            UpdateExpression="SET #v = :v",
            ExpressionAttributeNames={"#v": "v"},
            ExpressionAttributeValues={":v": {"S": "1"}},
        )


class Queries(unittest.TestCase):
    """The sorted windows give exactly the pages a full scan gives, whatever the query."""

    @classmethod
    def setUpClass(cls) -> None:
        cls.ddb = support.client("dynamodb")
        cls.table = new_table(cls.ddb)
        rng = random.Random(7)
        ddb, table = cls.ddb, cls.table
        for step in range(500):
            pk, sk = f"p{rng.randrange(4)}", f"s{rng.randrange(60):03}"
            choice = rng.random()
            if choice < 0.5:
                # Index range values repeat (ties) on purpose.
                ddb.put_item(
                    TableName=table,
                    Item=item(pk, sk, g=f"g{rng.randrange(3)}", gs=f"{rng.randrange(40):03}"),
                )
            elif choice < 0.75:
                # Moves the item between index partitions (in place, in moto).
                ddb.update_item(
                    TableName=table,
                    Key=item(pk, sk),
                    UpdateExpression="SET g = :g, gs = :s",
                    ExpressionAttributeValues={
                        ":g": {"S": f"g{rng.randrange(3)}"},
                        ":s": {"S": f"{rng.randrange(40):03}"},
                    },
                )
            elif choice < 0.9:
                ddb.delete_item(TableName=table, Key=item(pk, sk))
            else:
                ddb.update_item(TableName=table, Key=item(pk, sk), UpdateExpression="REMOVE g")

    def pages(self, **query) -> list[list[dict]]:  # type: ignore[no-untyped-def]
        out, start = [], None
        while True:
            extra = {"ExclusiveStartKey": start} if start else {}
            answer = self.ddb.query(TableName=self.table, **query, **extra)
            out.append(answer["Items"])
            start = answer.get("LastEvaluatedKey")
            if not start or len(out) > 200:
                return out

    def same(self, **query) -> None:  # type: ignore[no-untyped-def]
        fast = self.pages(**query)
        with mock.patch.object(moto_patches, "query_candidates", return_value=None):
            slow = self.pages(**query)
        self.assertEqual(fast, slow, query)

    def test_global_index_queries(self) -> None:
        conditions = [
            ("g = :g", {}),
            ("g = :g AND gs = :a", {":a": {"S": "010"}}),
            ("g = :g AND gs < :a", {":a": {"S": "010"}}),
            ("g = :g AND gs <= :a", {":a": {"S": "010"}}),
            ("g = :g AND gs > :a", {":a": {"S": "030"}}),
            ("g = :g AND gs >= :a", {":a": {"S": "030"}}),
            ("g = :g AND gs BETWEEN :a AND :b", {":a": {"S": "005"}, ":b": {"S": "020"}}),
            ("g = :g AND begins_with(gs, :a)", {":a": {"S": "01"}}),
        ]
        for g in ("g0", "g9"):
            for condition, values in conditions:
                for limit in (None, 2, 7):
                    for forward in (True, False):
                        query = {
                            "IndexName": "gsi",
                            "KeyConditionExpression": condition,
                            "ExpressionAttributeValues": {":g": {"S": g}, **values},
                            "ScanIndexForward": forward,
                        }
                        if limit:
                            query["Limit"] = limit
                        self.same(**query)

    def test_table_queries(self) -> None:
        conditions = [
            ("pk = :p", {}),
            ("pk = :p AND sk = :a", {":a": {"S": "s010"}}),
            ("pk = :p AND sk < :a", {":a": {"S": "s010"}}),
            ("pk = :p AND sk >= :a", {":a": {"S": "s030"}}),
            ("pk = :p AND sk BETWEEN :a AND :b", {":a": {"S": "s005"}, ":b": {"S": "s020"}}),
            ("pk = :p AND begins_with(sk, :a)", {":a": {"S": "s01"}}),
        ]
        for p in ("p0", "p9"):
            for condition, values in conditions:
                for limit in (None, 4):
                    for forward in (True, False):
                        query = {
                            "KeyConditionExpression": condition,
                            "ExpressionAttributeValues": {":p": {"S": p}, **values},
                            "ScanIndexForward": forward,
                            "FilterExpression": "attribute_exists(g)",
                        }
                        if limit:
                            query["Limit"] = limit
                        self.same(**query)


class Memory(unittest.TestCase):
    def test_models_are_not_kept_alive_by_instance_tracking(self) -> None:
        from moto.dynamodb.models.dynamo_type import Item

        ddb = support.client("dynamodb")
        table = new_table(ddb)
        for i in range(200):
            ddb.put_item(TableName=table, Item=item("same", v=str(i)))
        ddb.delete_table(TableName=table)
        gc.collect()
        live = sum(
            1
            for i in Item.instances_tracked
            if i.attrs.get("pk") is not None and i.attrs["pk"].value == "same"
        )
        self.assertLess(live, 5)

    def test_reading_missing_items_creates_no_partitions(self) -> None:
        from moto.dynamodb.models import dynamodb_backends

        ddb = support.client("dynamodb")
        table = new_table(ddb)
        for i in range(100):
            ddb.get_item(TableName=table, Key=item(f"nobody-{i}"))
        live = dynamodb_backends["123456789012"]["us-east-1"].tables[table]
        self.assertEqual(len(live.items), 0)


class Streams(unittest.TestCase):
    def test_iterators_expire_after_fifteen_minutes(self) -> None:
        ddb = support.client("dynamodb")
        table = new_table(ddb)
        stream = Stream(table)
        later = moto_patches.time.time() + moto_patches.ITERATOR_LIFETIME_SECS + 1
        with mock.patch.object(moto_patches.time, "time", return_value=later):
            with self.assertRaises(ClientError) as raised:
                stream.read()
        self.assertEqual(raised.exception.response["Error"]["Code"], "ExpiredIteratorException")

    def test_records_past_the_retention_are_trimmed_and_numbering_goes_on(self) -> None:
        ddb = support.client("dynamodb")
        streams = support.client("dynamodbstreams")
        table = new_table(ddb)
        arn = ddb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
        shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
        first = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        ddb.put_item(TableName=table, Item=item("old"))
        old = streams.get_records(ShardIterator=first)["Records"][0]["dynamodb"]["SequenceNumber"]
        later = moto_patches.time.time() + moto_patches.STREAM_RETENTION_SECS + 1
        with mock.patch.object(moto_patches.time, "time", return_value=later):
            with self.assertRaises(ClientError) as raised:
                streams.get_shard_iterator(
                    StreamArn=arn,
                    ShardId=shard,
                    ShardIteratorType="AT_SEQUENCE_NUMBER",
                    SequenceNumber=old,
                )
            self.assertEqual(
                raised.exception.response["Error"]["Code"], "TrimmedDataAccessException"
            )
            fresh = Stream(table)
            ddb.put_item(TableName=table, Item=item("new"))
            records = streams.get_records(ShardIterator=fresh.iterator)["Records"]
        self.assertEqual([r["dynamodb"]["Keys"]["pk"]["S"] for r in records], ["new"])
        self.assertGreater(int(records[0]["dynamodb"]["SequenceNumber"]), int(old))


class FastRecords(unittest.TestCase):
    def test_stream_records_read_as_moto_would_serialise_them(self) -> None:
        from moto.dynamodbstreams.responses import DynamoDBStreamsHandler

        ddb = support.client("dynamodb")
        streams = support.client("dynamodbstreams")
        table = new_table(ddb)
        stream = Stream(table)
        ddb.put_item(
            TableName=table,
            Item={
                **item("rich", g="x", gs="y"),
                "n": {"N": "1.50"},
                "m": {"M": {"l": {"L": [{"S": "x"}, {"BOOL": True}, {"NULL": True}]}}},
                "ss": {"SS": ["a", "b"]},
                "ns": {"NS": ["1", "2"]},
            },
        )
        ddb.update_item(
            TableName=table,
            Key=item("rich"),
            UpdateExpression="SET n = :n",
            ExpressionAttributeValues={":n": {"N": "2"}},
        )
        fast = streams.get_records(ShardIterator=stream.iterator)["Records"]
        with mock.patch.object(
            DynamoDBStreamsHandler,
            "get_records",
            moto_patches._ORIGINAL["DynamoDBStreamsHandler.get_records"],
        ):
            slow = streams.get_records(ShardIterator=stream.iterator)["Records"]
        self.assertEqual(len(fast), 2)
        self.assertEqual(fast, slow)


class FastResults(unittest.TestCase):
    def test_item_answers_read_as_moto_would_serialise_them(self) -> None:
        ddb = support.client("dynamodb")
        table = new_table(ddb)
        rich = {
            **item("rich", "1", g="x", gs="y"),
            "n": {"N": "1.50"},
            "b": {"B": b"\x00\x01binary"},
            "m": {"M": {"l": {"L": [{"S": "x"}, {"BOOL": True}, {"NULL": True}, {"BS": [b"a"]}]}}},
            "ss": {"SS": ["a", "b"]},
            "ns": {"NS": ["1", "2"]},
        }
        ddb.put_item(TableName=table, Item=rich)
        ddb.put_item(TableName=table, Item={**rich, "sk": {"S": "2"}})
        calls = [
            lambda: ddb.get_item(TableName=table, Key=item("rich", "1")),
            lambda: ddb.get_item(TableName=table, Key=item("missing", "1")),
            lambda: ddb.query(
                TableName=table,
                KeyConditionExpression="pk = :p",
                ExpressionAttributeValues={":p": {"S": "rich"}},
                Limit=1,
                ReturnConsumedCapacity="TOTAL",
            ),
            lambda: ddb.query(
                TableName=table,
                IndexName="gsi",
                KeyConditionExpression="g = :g",
                ExpressionAttributeValues={":g": {"S": "x"}},
            ),
            lambda: ddb.scan(TableName=table, Limit=1),
            lambda: ddb.batch_get_item(
                RequestItems={table: {"Keys": [item("rich", "1"), item("rich", "2"), item("nope", "1")]}}
            ),
            lambda: ddb.transact_get_items(
                TransactItems=[{"Get": {"TableName": table, "Key": item("rich", "2")}}]
            ),
            lambda: ddb.update_item(
                TableName=table,
                Key=item("rich", "1"),
                UpdateExpression="SET n = n + :one",
                ExpressionAttributeValues={":one": {"N": "1"}},
                ReturnValues="ALL_NEW",
            ),
        ]
        for call in calls:
            fast = call()
            with mock.patch.object(moto_patches.fast_results, "FAST_SERIALIZATION", False):
                slow = call()
            for answer in (fast, slow):
                answer.pop("ResponseMetadata")
            if "Attributes" in fast:  # the update ran twice
                fast["Attributes"].pop("n"), slow["Attributes"].pop("n")
            self.assertEqual(fast, slow)


class Pinning(unittest.TestCase):
    def test_the_patches_are_applied_to_the_moto_they_were_written_for(self) -> None:
        import moto

        self.assertEqual(moto.__version__, moto_patches.PINNED_MOTO)
        self.assertEqual(moto_patches.VERIFIED, list(moto_patches.EXPECTED_SOURCES))
        self.assertEqual(
            moto_patches.APPLIED,
            [
                "weak-instance-tracking",
                "per-item-units-of-work",
                "indexed-queries",
                "stream-iterators-and-retention",
                "idempotent-transactions",
                "fast-item-results",
            ],
        )


if __name__ == "__main__":
    unittest.main()
