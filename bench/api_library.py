"""Issue 16, step 1: DRF + drf-spectacular vs django-ninja on one small endpoint, in-process.

Both serve ``GET /items/?limit=100`` -> ``{"results": [100 objects of 8 fields], "next": null}``
through the full Django request cycle (django.test.Client, no database), so the figure is the
framework's own cost: routing, authentication hook, query validation, serialisation.
Run: ``.venv/bin/python bench/api_library.py``.
"""

from __future__ import annotations

import datetime
import time

import django
from django.conf import settings

settings.configure(
    DEBUG=False,
    SECRET_KEY="bench",
    ALLOWED_HOSTS=["testserver"],
    ROOT_URLCONF=__name__,
    INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "rest_framework", "ninja"],
    MIDDLEWARE=[],
    DATABASES={},
    REST_FRAMEWORK={
        "DEFAULT_AUTHENTICATION_CLASSES": [],
        "DEFAULT_PERMISSION_CLASSES": [],
        "UNAUTHENTICATED_USER": None,
        "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
        "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    },
)
django.setup()

from django.urls import path  # noqa: E402
from ninja import NinjaAPI, Schema  # noqa: E402
from rest_framework import serializers  # noqa: E402
from rest_framework.response import Response  # noqa: E402
from rest_framework.views import APIView  # noqa: E402

ROWS = [
    {
        "id": i,
        "line_id": f"1001234-{i:04d}",
        "product": "Mechanical Enterprise",
        "feature": "ansys",
        "quantity": 10,
        "available": 5,
        "end_date": datetime.date(2027, 12, 31),
        "status": "active",
    }
    for i in range(100)
]


def token_check(request) -> bool:
    return request.headers.get("Authorization") == "Bearer lpat_x"


# --- DRF ---------------------------------------------------------------------------------
class ItemSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    line_id = serializers.CharField()
    product = serializers.CharField()
    feature = serializers.CharField()
    quantity = serializers.IntegerField()
    available = serializers.IntegerField()
    end_date = serializers.DateField(allow_null=True)
    status = serializers.CharField()


class LimitSerializer(serializers.Serializer):
    limit = serializers.IntegerField(min_value=1, max_value=500, default=100)


class DrfItems(APIView):
    def get(self, request):
        if not token_check(request):
            return Response(status=401)
        query = LimitSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        rows = ROWS[: query.validated_data["limit"]]
        return Response({"results": ItemSerializer(rows, many=True).data, "next": None})


# --- ninja -------------------------------------------------------------------------------
class ItemOut(Schema):
    id: int
    line_id: str
    product: str
    feature: str
    quantity: int
    available: int
    end_date: datetime.date | None
    status: str


class PageOut(Schema):
    results: list[ItemOut]
    next: str | None


class BearerCheck:
    def __call__(self, request):
        return token_check(request) or None


api = NinjaAPI(urls_namespace="bench")


@api.get("/items/", response=PageOut, auth=lambda request: token_check(request) or None)
def ninja_items(request, limit: int = 100):
    return {"results": ROWS[:limit], "next": None}


urlpatterns = [path("drf/items/", DrfItems.as_view()), path("ninja/", api.urls)]


def measure(url: str, seconds: float = 5.0) -> tuple[float, int]:
    from django.test import Client

    client = Client(HTTP_AUTHORIZATION="Bearer lpat_x")
    response = client.get(url)
    assert response.status_code == 200, response.content
    size = len(response.content)
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        client.get(url)
        done += 1
    return done / (time.perf_counter() - start), size


if __name__ == "__main__":
    for _round in range(3):
        for name, url in (("DRF", "/drf/items/?limit=100"), ("ninja", "/ninja/items/?limit=100")):
            rate, size = measure(url)
            print(f"{name:6s} {rate:8.0f} req/s  ({size} bytes)")
