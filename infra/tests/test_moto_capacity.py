"""The local endpoint answers `ReturnConsumedCapacity` with what DynamoDB would bill
(infra/moto_capacity.py), checked through its HTTP interface with boto3."""

from __future__ import annotations

import unittest

import support  # noqa: F401  (starts the endpoint, applies the patches)
import moto_capacity
from test_moto_patches import item, new_table


class Sizes(unittest.TestCase):
    def test_item_sizes_follow_dynamodbs_rules(self) -> None:
        self.assertEqual(moto_capacity.number_size("0"), 1)
        self.assertEqual(moto_capacity.number_size("12345"), 4)
        self.assertEqual(moto_capacity.number_size("-1.500"), 2)
        self.assertEqual(moto_capacity.number_size("1000"), 2)
        self.assertEqual(moto_capacity.item_size({"pk": {"S": "héllo"}}), 2 + 6)
        self.assertEqual(moto_capacity.item_size({"f": {"BOOL": True}, "n": {"NULL": True}}), 4)
        self.assertEqual(
            moto_capacity.item_size({"l": {"L": [{"S": "ab"}, {"N": "7"}]}}),
            1 + 3 + (2 + 1) + (2 + 1),
        )
        self.assertEqual(moto_capacity.item_size({"m": {"M": {"k": {"S": "v"}}}}), 1 + 3 + 1 + 1 + 1)

    def test_units_round_up_per_item_and_halve_for_eventual_reads(self) -> None:
        self.assertEqual(moto_capacity.read_units(0, True), 1)
        self.assertEqual(moto_capacity.read_units(4097, True), 2)
        self.assertEqual(moto_capacity.read_units(4097, False), 1)
        self.assertEqual(moto_capacity.write_units(1), 1)
        self.assertEqual(moto_capacity.write_units(1025), 2)


class Consumed(unittest.TestCase):
    def setUp(self) -> None:
        self.ddb = support.client("dynamodb")
        self.table = new_table(self.ddb)

    def test_writes_cost_the_larger_image_and_every_index_they_touch(self) -> None:
        big = "x" * 1500
        put = self.ddb.put_item(
            TableName=self.table, Item=item("a", body=big), ReturnConsumedCapacity="INDEXES"
        )["ConsumedCapacity"]
        self.assertEqual(put["WriteCapacityUnits"], 2)
        self.assertNotIn("GlobalSecondaryIndexes", put)
        # Into the index: the table write and one index write.
        update = self.ddb.update_item(
            TableName=self.table,
            Key={"pk": {"S": "a"}, "sk": {"S": "x"}},
            UpdateExpression="SET g = :g, gs = :s",
            ExpressionAttributeValues={":g": {"S": "G"}, ":s": {"S": "1"}},
            ReturnConsumedCapacity="INDEXES",
        )["ConsumedCapacity"]
        self.assertEqual(update["Table"]["WriteCapacityUnits"], 2)
        self.assertEqual(update["GlobalSecondaryIndexes"]["gsi"]["WriteCapacityUnits"], 2)
        # Moving the index key is a delete and a put of the entry.
        moved = self.ddb.update_item(
            TableName=self.table,
            Key={"pk": {"S": "a"}, "sk": {"S": "x"}},
            UpdateExpression="SET gs = :s",
            ExpressionAttributeValues={":s": {"S": "2"}},
            ReturnConsumedCapacity="INDEXES",
        )["ConsumedCapacity"]
        self.assertEqual(moved["GlobalSecondaryIndexes"]["gsi"]["WriteCapacityUnits"], 4)
        # A transaction doubles the table's units, a condition check included.
        self.ddb.put_item(TableName=self.table, Item=item("b"))
        transaction = self.ddb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": self.table, "Item": item("c")}},
                {
                    "ConditionCheck": {
                        "TableName": self.table,
                        "Key": {"pk": {"S": "b"}, "sk": {"S": "x"}},
                        "ConditionExpression": "attribute_exists(pk)",
                    }
                },
            ],
            ReturnConsumedCapacity="TOTAL",
        )["ConsumedCapacity"]
        self.assertEqual(transaction, [{
            "TableName": self.table, "CapacityUnits": 4.0,
            "ReadCapacityUnits": 0.0, "WriteCapacityUnits": 4.0,
        }])

    def test_reads_cost_the_whole_items_read_not_what_the_projection_returns(self) -> None:
        for n in range(3):
            self.ddb.put_item(TableName=self.table, Item=item("p", str(n), body="y" * 3000))
        got = self.ddb.get_item(
            TableName=self.table,
            Key={"pk": {"S": "p"}, "sk": {"S": "0"}},
            ProjectionExpression="pk",
            ConsistentRead=True,
            ReturnConsumedCapacity="TOTAL",
        )["ConsumedCapacity"]
        self.assertEqual(got["ReadCapacityUnits"], 1.0)
        missing = self.ddb.get_item(
            TableName=self.table, Key={"pk": {"S": "none"}, "sk": {"S": "x"}},
            ReturnConsumedCapacity="TOTAL",
        )["ConsumedCapacity"]
        self.assertEqual(missing["ReadCapacityUnits"], 0.5)
        # Three items of ~3 KB: one sum, rounded up once (9 KB → 3 units), halved.
        query = self.ddb.query(
            TableName=self.table,
            KeyConditionExpression="pk = :p",
            ExpressionAttributeValues={":p": {"S": "p"}},
            ReturnConsumedCapacity="TOTAL",
        )["ConsumedCapacity"]
        self.assertEqual(query["ReadCapacityUnits"], 1.5)
        batch = self.ddb.batch_get_item(
            RequestItems={self.table: {"Keys": [
                {"pk": {"S": "p"}, "sk": {"S": "0"}}, {"pk": {"S": "p"}, "sk": {"S": "1"}},
            ], "ConsistentRead": True}},
            ReturnConsumedCapacity="TOTAL",
        )["ConsumedCapacity"]
        self.assertEqual(batch[0]["ReadCapacityUnits"], 2.0)

    def test_nothing_is_added_when_no_capacity_is_asked_for(self) -> None:
        answer = self.ddb.put_item(TableName=self.table, Item=item("q"))
        self.assertNotIn("ConsumedCapacity", answer)


if __name__ == "__main__":
    unittest.main()
