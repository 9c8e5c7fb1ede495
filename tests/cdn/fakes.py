"""CloudFront's answers for botocore's Stubber, shared by the purge client tests and the deploy's purge tests."""

from __future__ import annotations

import datetime

INVALIDATION_ID = "I2J0I21PCUYOIK"
DISTRIBUTION_ID = "E2QWRUHEXAMPLE"


def cloudfront_invalidation(paths: list[str], reference: str = "x") -> dict[str, object]:
    """A create_invalidation response (the shape of vendor-contracts/aws/cloudfront.create_invalidation.response.json;
    boto3 gives CreateTime as a datetime)."""
    return {
        "Location": f"https://cloudfront.amazonaws.com/2020-05-31/distribution/{DISTRIBUTION_ID}/invalidation/I2J0",
        "Invalidation": {
            "Id": INVALIDATION_ID,
            "Status": "InProgress",
            "CreateTime": datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC),
            "InvalidationBatch": {"Paths": {"Quantity": len(paths), "Items": paths}, "CallerReference": reference},
        },
    }
