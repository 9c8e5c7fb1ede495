"""Small in-memory fakes of Meilisearch, Algolia and Typesense behind respx, for the search contract suite.

Each fake answers the documented routes the adapters use with the documented shapes (vendor-contracts/*.md and the
examples in tests/fixtures/vendors/), and evaluates the request it is sent: it parses the vendor's own filter
syntax, checks attributes against the settings or schema the adapter applied (an unfilterable attribute is the
vendor's 400), honours sorts, pages and facet requests, and makes writes visible only once their task is done.
Text matching is deliberately simple: every query term must begin a word of a searchable field.
"""

from __future__ import annotations

import itertools
import json
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import unquote

import httpx
import respx

Doc = dict[str, Any]
WORD = re.compile(r"[^\W_]+")


def _fold(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)).casefold()


def _words(value: Any) -> list[str]:
    values = value if isinstance(value, list) else [value]
    return [w for v in values if isinstance(v, str) for w in WORD.findall(_fold(v))]


def text_matches(docs: Iterable[Doc], text: str, searchable: list[str]) -> list[Doc]:
    """Documents where every term begins a word of a searchable field; better field positions rank first."""
    terms = WORD.findall(_fold(text))
    if not terms:
        return list(docs)
    scored = []
    for position, doc in enumerate(docs):
        fields = [_words(doc.get(name)) for name in searchable]
        best = [min((i for i, words in enumerate(fields) if any(w.startswith(t) for w in words)), default=None)
                for t in terms]  # fmt: skip
        if None not in best:
            scored.append((sum(b for b in best if b is not None), position, doc))
    return [doc for *_, doc in sorted(scored, key=lambda s: (s[0], s[1]))]


def facet_counts(docs: Iterable[Doc], attribute: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for doc in docs:
        value = doc.get(attribute)
        for v in dict.fromkeys(value if isinstance(value, list) else [value]):
            if v is None:
                continue
            key = ("true" if v else "false") if isinstance(v, bool) else str(v)
            counts[key] = counts.get(key, 0) + 1
    return counts


def compare(value: Any, op: str, wanted: Any) -> bool:
    """One condition on a field; an array field matches when any element does."""
    values = value if isinstance(value, list) else [value]
    for v in values:
        if v is None:
            continue
        if isinstance(wanted, str) and isinstance(v, str):
            v, wanted_ = _fold(v), _fold(wanted)
        else:
            wanted_ = wanted
        if (op == "=" and v == wanted_) or (op == "!=" and v != wanted_):
            return True
        numbers = isinstance(v, int | float) and not isinstance(v, bool) and isinstance(wanted_, int | float)
        if numbers and {">=": v >= wanted_, "<=": v <= wanted_, ">": v > wanted_, "<": v < wanted_}.get(op, False):
            return True
    return False


def sort_docs(docs: list[Doc], attribute: str, descending: bool) -> list[Doc]:
    def key(doc: Doc) -> Any:
        value = doc.get(attribute)
        return _fold(value) if isinstance(value, str) else value

    present = [d for d in docs if d.get(attribute) is not None]
    return sorted(present, key=key, reverse=descending) + [d for d in docs if d.get(attribute) is None]


def retrieve(doc: Doc, fields: list[str] | None, always: Iterable[str] = ()) -> Doc:
    if fields is None or "*" in fields:
        return dict(doc)
    return {k: v for k, v in doc.items() if k in fields or k in always}


class Scanner:
    """A tiny tokenizer for the filter languages: quoted strings, words, numbers, operators and brackets."""

    def __init__(self, text: str, pattern: re.Pattern[str]) -> None:
        self.tokens: list[str] = [m.group(0) for m in pattern.finditer(text) if not m.group(0).isspace()]
        self.i = 0

    def peek(self) -> str | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> str:
        token = self.peek()
        if token is None:
            raise ValueError("unexpected end of filter")
        self.i += 1
        return token


def unquote_value(token: str) -> Any:
    if token[:1] in "\"'`":
        return re.sub(r"\\(.)", r"\1", token[1:-1])
    if token in ("true", "false"):
        return token == "true"
    try:
        return int(token)
    except ValueError:
        try:
            return float(token)
        except ValueError:
            return token


# -- Meilisearch ---------------------------------------------------------------------------------------------------

MEILI_TOKEN = re.compile(r"\s+|\"(?:\\.|[^\"\\])*\"|'(?:\\.|[^'\\])*'|>=|<=|!=|=|>|<|[^\s=<>!\"']+")


class FakeMeilisearch:
    """Indexes, settings and tasks of one Meilisearch instance (meilisearch.md)."""

    def __init__(self, url: str = "http://meili.test", key: str = "meili-key") -> None:
        self.url = url.rstrip("/")
        self.key = key
        self.indexes: dict[str, dict[str, Any]] = {}
        self.tasks: dict[int, dict[str, Any]] = {}
        self._uids = itertools.count(1)

    def install(self, router: respx.MockRouter) -> None:
        base = re.escape(self.url)
        routes: list[tuple[str, str, Callable[[httpx.Request, re.Match[str]], httpx.Response]]] = [
            ("GET", r"/tasks/(\d+)", self._task),
            ("GET", r"/indexes/([^/]+)/settings", self._get_settings),
            ("PATCH", r"/indexes/([^/]+)/settings", self._patch_settings),
            ("POST", r"/indexes/([^/]+)/documents", self._add),
            ("POST", r"/indexes/([^/]+)/documents/delete-batch", self._delete_batch),
            ("DELETE", r"/indexes/([^/]+)/documents", self._delete_all),
            ("POST", r"/indexes/([^/]+)/search", self._search),
        ]
        for method, path, handler in routes:
            router.route(method=method, url__regex=rf"^{base}{path}(\?.*)?$").mock(
                side_effect=self._guard(path, handler)
            )

    def _guard(
        self, path: str, handler: Callable[[httpx.Request, re.Match[str]], httpx.Response]
    ) -> Callable[[httpx.Request], httpx.Response]:
        def answer(request: httpx.Request) -> httpx.Response:
            if request.headers.get("authorization") != f"Bearer {self.key}":
                return self._error(401, "missing_authorization_header", "auth", "The Authorization header is missing.")
            match = re.fullmatch(path, request.url.path)
            assert match is not None
            return handler(request, match)

        return answer

    @staticmethod
    def _error(status: int, code: str, kind: str, message: str) -> httpx.Response:
        link = f"https://docs.meilisearch.com/errors#{code}"
        return httpx.Response(status, json={"message": message, "code": code, "type": kind, "link": link})

    def _not_found(self, uid: str) -> httpx.Response:
        return self._error(404, "index_not_found", "invalid_request", f"Index `{uid}` not found.")

    def _enqueue(self, uid: str, kind: str, apply: Callable[[], dict[str, Any] | None]) -> httpx.Response:
        task_uid = next(self._uids)
        self.tasks[task_uid] = {"uid": task_uid, "indexUid": uid, "type": kind, "apply": apply, "polls": 0}
        summary = {"taskUid": task_uid, "indexUid": uid, "status": "enqueued", "type": kind,
                   "enqueuedAt": "2026-01-01T00:00:00.000000Z"}  # fmt: skip
        return httpx.Response(202, json=summary)

    def _task(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        task = self.tasks[int(match.group(1))]
        task["polls"] += 1
        if task["polls"] == 1:
            status, error = "processing", None
        else:
            if "outcome" not in task:
                task["outcome"] = task["apply"]()
            error = task["outcome"]
            status = "failed" if error else "succeeded"
        body = {key: task[key] for key in ("uid", "indexUid", "type")}
        return httpx.Response(200, json=body | {"status": status, "error": error, "batchUid": 1, "canceledBy": None})

    def _index(self, uid: str) -> dict[str, Any]:
        settings = {"filterableAttributes": [], "sortableAttributes": [], "searchableAttributes": ["*"],
                    "rankingRules": ["words", "typo", "proximity", "attribute", "sort", "exactness"],
                    "faceting": {"maxValuesPerFacet": 100}}  # fmt: skip
        return self.indexes.setdefault(uid, {"docs": {}, "settings": settings})

    def _get_settings(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        uid = match.group(1)
        if uid not in self.indexes:
            return self._not_found(uid)
        return httpx.Response(200, json=self.indexes[uid]["settings"])

    def _patch_settings(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        uid, body = match.group(1), json.loads(request.content)

        def apply() -> None:
            self._index(uid)["settings"].update(body)

        return self._enqueue(uid, "settingsUpdate", apply)

    def _add(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        uid, documents = match.group(1), json.loads(request.content)
        key = request.url.params.get("primaryKey", "id")

        def apply() -> dict[str, Any] | None:
            index = self._index(uid)  # "The index is created automatically if missing"
            for doc in documents:
                if not re.fullmatch(r"[A-Za-z0-9_-]{1,511}", str(doc.get(key, ""))):
                    return {"message": f"Document identifier `{doc.get(key)}` is invalid.",
                            "code": "invalid_document_id", "type": "invalid_request", "link": ""}  # fmt: skip
            for doc in documents:
                index["docs"][str(doc[key])] = doc  # POST replaces whole documents
            return None

        return self._enqueue(uid, "documentAdditionOrUpdate", apply)

    def _missing_task_error(self, uid: str) -> dict[str, Any]:
        return {"message": f"Index `{uid}` not found.", "code": "index_not_found", "type": "invalid_request",
                "link": "https://docs.meilisearch.com/errors#index_not_found"}  # fmt: skip

    def _delete_batch(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        uid, ids = match.group(1), json.loads(request.content)

        def apply() -> dict[str, Any] | None:
            if uid not in self.indexes:
                return self._missing_task_error(uid)
            for i in ids:
                self.indexes[uid]["docs"].pop(str(i), None)
            return None

        return self._enqueue(uid, "documentDeletion", apply)

    def _delete_all(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        uid = match.group(1)

        def apply() -> dict[str, Any] | None:
            if uid not in self.indexes:
                return self._missing_task_error(uid)
            self.indexes[uid]["docs"].clear()
            return None

        return self._enqueue(uid, "documentDeletion", apply)

    def _condition(self, text: str, filterable: list[str]) -> Callable[[Doc], bool]:
        scanner = Scanner(text, MEILI_TOKEN)
        attribute, op, value = scanner.take(), scanner.take(), unquote_value(scanner.take())
        if scanner.peek() is not None or op not in ("=", "!=", ">=", "<=", ">", "<"):
            raise ValueError(f"unsupported filter {text!r}")
        if attribute not in filterable:
            raise LookupError(
                f"Attribute `{attribute}` is not filterable. Available filterable attributes are: "
                f"`{', '.join(sorted(filterable))}`.\n{text}"
            )
        return lambda doc: compare(doc.get(attribute), op, value)

    def _filter(self, expression: Any, filterable: list[str]) -> Callable[[Doc], bool]:
        """The array form: outer AND, inner OR, depth 2 at most."""
        if expression is None:
            return lambda doc: True
        if isinstance(expression, str):
            expression = [expression]
        conjuncts: list[Callable[[Doc], bool]] = []
        for item in expression:
            if isinstance(item, list):
                disjuncts = [self._condition(text, filterable) for text in item]
                conjuncts.append(lambda doc, d=disjuncts: any(f(doc) for f in d))  # type: ignore[misc]
            else:
                conjuncts.append(self._condition(item, filterable))
        return lambda doc: all(f(doc) for f in conjuncts)

    def _search(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        uid, body = match.group(1), json.loads(request.content)
        if uid not in self.indexes:
            return self._not_found(uid)
        index = self.indexes[uid]
        settings = index["settings"]
        filterable = [a for a in settings["filterableAttributes"] if isinstance(a, str)]
        try:
            keep = self._filter(body.get("filter"), filterable)
        except LookupError as exc:
            return self._error(400, "invalid_search_filter", "invalid_request", str(exc))
        except ValueError as exc:
            return self._error(400, "invalid_search_filter", "invalid_request", str(exc))
        searchable = settings["searchableAttributes"]
        if searchable == ["*"]:
            searchable = ["title", "brand", "category_names", "description"]
        docs = [d for d in text_matches(index["docs"].values(), body.get("q") or "", searchable) if keep(d)]
        for sort in reversed(body.get("sort") or []):
            attribute, _, direction = sort.rpartition(":")
            if attribute not in settings["sortableAttributes"]:
                return self._error(400, "invalid_search_sort", "invalid_request",
                                   f"Attribute `{attribute}` is not sortable.")  # fmt: skip
            docs = sort_docs(docs, attribute, direction == "desc")
        limit_per_facet = settings["faceting"]["maxValuesPerFacet"]
        answer: dict[str, Any] = {"query": body.get("q") or "", "processingTimeMs": 1}
        if "facets" in body:
            # Facets that are not filterable are left out without an error.
            answer["facetDistribution"] = {
                attribute: dict(itertools.islice(facet_counts(docs, attribute).items(), limit_per_facet))
                for attribute in body["facets"]
                if attribute in filterable
            }
        if "page" in body or "hitsPerPage" in body:
            page, per_page = body.get("page", 1), body.get("hitsPerPage", 20)
            window = docs[(page - 1) * per_page : page * per_page]
            answer |= {"page": page, "hitsPerPage": per_page, "totalHits": len(docs),
                       "totalPages": -(-len(docs) // per_page) if per_page else 0}  # fmt: skip
        else:
            offset, limit = body.get("offset", 0), body.get("limit", 20)
            window = docs[offset : offset + limit]
            answer |= {"offset": offset, "limit": limit, "estimatedTotalHits": len(docs)}
        answer["hits"] = [retrieve(d, body.get("attributesToRetrieve")) for d in window]
        return httpx.Response(200, json=answer)


# -- Algolia -------------------------------------------------------------------------------------------------------

ALGOLIA_TOKEN = re.compile(r"\s+|\"(?:\\.|[^\"\\])*\"|\(|\)|>=|<=|!=|=|>|<|:|[^\s:()=<>!\"]+")


class AlgoliaFilter:
    """Algolia's `filters` grammar (algolia.md): facet `attr:value`, numeric `attr >= n` / `attr:lo TO hi`,
    booleans, AND binding tighter than OR, parentheses. Facet attributes must be in attributesForFaceting."""

    def __init__(self, text: str, facetable: set[str]) -> None:
        self.scanner = Scanner(text, ALGOLIA_TOKEN)
        self.facetable = facetable

    def parse(self) -> Callable[[Doc], bool]:
        if self.scanner.peek() is None:
            return lambda doc: True
        predicate = self._or()
        if self.scanner.peek() is not None:
            raise ValueError(f"filters: unexpected token {self.scanner.peek()!r}")
        return predicate

    def _or(self) -> Callable[[Doc], bool]:
        parts = [self._and()]
        while self.scanner.peek() == "OR":
            self.scanner.take()
            parts.append(self._and())
        return lambda doc: any(p(doc) for p in parts)

    def _and(self) -> Callable[[Doc], bool]:
        parts = [self._atom()]
        while self.scanner.peek() == "AND":
            self.scanner.take()
            parts.append(self._atom())
        return lambda doc: all(p(doc) for p in parts)

    def _atom(self) -> Callable[[Doc], bool]:
        if self.scanner.peek() == "(":
            self.scanner.take()
            inner = self._or()
            if self.scanner.take() != ")":
                raise ValueError("filters: missing )")
            return inner
        attribute, op = self.scanner.take(), self.scanner.take()
        if op == ":":
            value = unquote_value(self.scanner.take())
            if self.scanner.peek() == "TO":
                self.scanner.take()
                high = unquote_value(self.scanner.take())
                return lambda doc: compare(doc.get(attribute), ">=", value) and compare(doc.get(attribute), "<=", high)
            if attribute not in self.facetable:
                raise LookupError(f"Unknown attribute `{attribute}` in filters: declare it in attributesForFaceting")
            wanted = value if isinstance(value, bool) else str(value)
            return lambda doc: compare(_facet_values(doc.get(attribute)), "=", wanted)
        if op in (">=", "<=", "=", "!=", ">", "<"):
            number = unquote_value(self.scanner.take())
            if not isinstance(number, int | float):
                raise ValueError(f"filters: {attribute} {op} needs a number")
            return lambda doc: compare(doc.get(attribute), op, number)
        raise ValueError(f"filters: unexpected {op!r} after {attribute!r}")


def _facet_values(value: Any) -> Any:
    # Facet filters match the value as text; booleans stay booleans.
    if isinstance(value, list):
        return [v if isinstance(v, bool) else str(v) for v in value]
    return value if isinstance(value, bool) or value is None else str(value)


class FakeAlgolia:
    """Indexes, replicas and tasks of one Algolia application, on its read (DSN) and write hosts (algolia.md)."""

    def __init__(self, app_id: str = "APPID42", key: str = "algolia-key") -> None:
        self.app_id = app_id
        self.key = key
        # Host names are case-insensitive; httpx sends them in lower case.
        self.read_host = f"https://{app_id.lower()}-dsn.algolia.net"
        self.write_host = f"https://{app_id.lower()}.algolia.net"
        self.indexes: dict[str, dict[str, Any]] = {}
        self.tasks: dict[int, dict[str, Any]] = {}
        self._ids = itertools.count(1_514_562_690_001)

    def install(self, router: respx.MockRouter) -> None:
        routes: list[tuple[str, str, str, Callable[[httpx.Request, str, re.Match[str]], httpx.Response]]] = [
            (self.read_host, "POST", r"/1/indexes/([^/]+)/query", self._query),
            (self.read_host, "GET", r"/1/indexes/([^/]+)/settings", self._get_settings),
            (self.read_host, "GET", r"/1/indexes/([^/]+)/task/(\d+)", self._task),
            (self.write_host, "PUT", r"/1/indexes/([^/]+)/settings", self._put_settings),
            (self.write_host, "POST", r"/1/indexes/([^/]+)/batch", self._batch),
            (self.write_host, "POST", r"/1/indexes/([^/]+)/clear", self._clear),
        ]
        for host, method, path, handler in routes:
            router.route(method=method, url__regex=rf"^{re.escape(host)}{path}(\?.*)?$").mock(
                side_effect=self._guard(path, handler)
            )

    def _guard(
        self, path: str, handler: Callable[[httpx.Request, str, re.Match[str]], httpx.Response]
    ) -> Callable[[httpx.Request], httpx.Response]:
        def answer(request: httpx.Request) -> httpx.Response:
            headers = request.headers
            if headers.get("x-algolia-application-id") != self.app_id or headers.get("x-algolia-api-key") != self.key:
                return httpx.Response(403, json={"message": "Invalid Application-ID or API key", "status": 403})
            match = re.fullmatch(path, request.url.path)
            assert match is not None
            return handler(request, unquote(match.group(1)), match)

        return answer

    @staticmethod
    def _missing() -> httpx.Response:
        return httpx.Response(404, json={"message": "Index does not exist", "status": 404})

    def _task_answer(self, index: str, apply: Callable[[], None], **extra: Any) -> httpx.Response:
        task_id = next(self._ids)
        self.tasks[task_id] = {"index": index, "apply": apply, "polls": 0}
        return httpx.Response(200, json={"taskID": task_id, **extra})

    def _task(self, request: httpx.Request, index: str, match: re.Match[str]) -> httpx.Response:
        task = self.tasks[int(match.group(2))]
        assert task["index"] == index, "a task is polled on the index that issued it"
        task["polls"] += 1
        if task["polls"] == 1:
            return httpx.Response(200, json={"status": "notPublished"})
        if not task.get("applied"):
            task["apply"]()
            task["applied"] = True
        return httpx.Response(200, json={"status": "published"})

    def _index(self, name: str) -> dict[str, Any]:
        return self.indexes.setdefault(name, {"docs": {}, "settings": {}})

    def _primary_of(self, name: str) -> str | None:
        for primary, index in self.indexes.items():
            if name in (index["settings"].get("replicas") or []):
                return primary
        return None

    def _get_settings(self, request: httpx.Request, index: str, match: re.Match[str]) -> httpx.Response:
        if index not in self.indexes:
            return self._missing()
        return httpx.Response(200, json=self.indexes[index]["settings"])

    def _put_settings(self, request: httpx.Request, index: str, match: re.Match[str]) -> httpx.Response:
        body = json.loads(request.content)

        def apply() -> None:
            self._index(index)["settings"].update(body)  # a partial update: keys not sent stay as they were
            for replica in body.get("replicas") or []:
                self._index(replica)

        return self._task_answer(index, apply, updatedAt="2026-01-01T00:00:00.000Z")

    def _batch(self, request: httpx.Request, index: str, match: re.Match[str]) -> httpx.Response:
        requests = json.loads(request.content)["requests"]

        def apply() -> None:
            docs = self._index(index)["docs"]
            for item in requests:
                body = item["body"]
                if item["action"] == "updateObject":
                    docs[body["objectID"]] = body
                elif item["action"] == "deleteObject":
                    docs.pop(body["objectID"], None)
                else:
                    raise AssertionError(f"unexpected action {item['action']}")

        return self._task_answer(index, apply, objectIDs=[item["body"]["objectID"] for item in requests])

    def _clear(self, request: httpx.Request, index: str, match: re.Match[str]) -> httpx.Response:
        if index not in self.indexes:
            return self._missing()
        return self._task_answer(index, lambda: self.indexes[index]["docs"].clear(), updatedAt="2026-01-01")

    def _query(self, request: httpx.Request, index: str, match: re.Match[str]) -> httpx.Response:
        if index not in self.indexes:
            return self._missing()
        body = json.loads(request.content)
        primary = self._primary_of(index)
        docs_from = self.indexes[primary or index]["docs"]  # a replica holds its primary's records
        settings = self.indexes[index]["settings"]
        declared = settings.get("attributesForFaceting") or []
        facetable = {re.sub(r"^(filterOnly|searchable|afterDistinct)\((.*)\)$", r"\2", a) for a in declared}
        countable = {a for a in declared if not a.startswith("filterOnly(")}
        try:
            keep = AlgoliaFilter(body.get("filters", ""), facetable).parse()
        except (LookupError, ValueError) as exc:
            return httpx.Response(400, json={"message": str(exc), "status": 400})
        searchable = settings.get("searchableAttributes") or ["title", "brand", "category_names", "description"]
        docs = [d for d in text_matches(docs_from.values(), body.get("query", ""), searchable) if keep(d)]
        ranking = settings.get("ranking") or []
        if ranking and (first := re.fullmatch(r"(asc|desc)\((.+)\)", ranking[0])):
            docs = sort_docs(docs, first.group(2), first.group(1) == "desc")
        page, per_page = body.get("page", 0), body.get("hitsPerPage", 20)
        limit = body.get("maxValuesPerFacet", 100)
        answer: dict[str, Any] = {
            "hits": [retrieve(d, body.get("attributesToRetrieve"), always=["objectID"])
                     for d in docs[page * per_page : (page + 1) * per_page]],
            "nbHits": len(docs),
            "page": page,
            "nbPages": -(-len(docs) // per_page) if per_page else 0,
            "hitsPerPage": per_page,
            "processingTimeMS": 1,
            "query": body.get("query", ""),
            "params": "",
            "index": index,
        }  # fmt: skip
        if body.get("facets"):
            answer["facets"] = {
                a: dict(itertools.islice(facet_counts(docs, a).items(), limit))
                for a in body["facets"]
                if a in countable
            }
        return httpx.Response(200, json=answer)


# -- Typesense -----------------------------------------------------------------------------------------------------

TYPESENSE_TOKEN = re.compile(r"\s+|`[^`]*`|&&|\|\||:=|:>=|:<=|:>|:<|:|\[|\]|,|\.\.|[^\s:`\[\],&|]+")


class FakeTypesense:
    """Collections with schemas, JSON-lines imports and the query-string search of one Typesense node."""

    def __init__(self, url: str = "http://typesense.test:8108", key: str = "ts-key") -> None:
        self.url = url.rstrip("/")
        self.key = key
        self.collections: dict[str, dict[str, Any]] = {}

    def install(self, router: respx.MockRouter) -> None:
        routes: list[tuple[str, str, Callable[[httpx.Request, re.Match[str]], httpx.Response]]] = [
            ("GET", r"/collections/([^/]+)/documents/search", self._search),
            ("POST", r"/collections/([^/]+)/documents/import", self._import),
            ("DELETE", r"/collections/([^/]+)/documents/([^/]+)", self._delete_document),
            ("GET", r"/collections/([^/]+)", self._get),
            ("PATCH", r"/collections/([^/]+)", self._alter),
            ("DELETE", r"/collections/([^/]+)", self._drop),
            ("POST", r"/collections", self._create),
        ]
        for method, path, handler in routes:
            router.route(method=method, url__regex=rf"^{re.escape(self.url)}{path}(\?.*)?$").mock(
                side_effect=self._guard(path, handler)
            )

    def _guard(
        self, path: str, handler: Callable[[httpx.Request, re.Match[str]], httpx.Response]
    ) -> Callable[[httpx.Request], httpx.Response]:
        def answer(request: httpx.Request) -> httpx.Response:
            if request.headers.get("x-typesense-api-key") != self.key:
                return httpx.Response(
                    401, json={"message": "Forbidden - a valid `x-typesense-api-key` header must be sent."}
                )
            match = re.fullmatch(path, request.url.path)
            assert match is not None
            return handler(request, match)

        return answer

    @staticmethod
    def _message(status: int, message: str) -> httpx.Response:
        return httpx.Response(status, json={"message": message})

    def _field(self, collection: dict[str, Any], name: str) -> dict[str, Any] | None:
        for field in collection["fields"]:
            if field["name"] == name or re.fullmatch(field["name"], name):
                return field  # a field name can be a regular expression (`amount_.*`)
        return None

    def _get(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        name = match.group(1)
        if name not in self.collections:
            return self._message(404, "Not Found")
        collection = self.collections[name]
        return httpx.Response(200, json={"name": name, "fields": collection["fields"],
                                         "num_documents": len(collection["docs"])})  # fmt: skip

    def _create(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        body = json.loads(request.content)
        if body["name"] in self.collections:
            return self._message(409, f"A collection with name `{body['name']}` already exists.")
        self.collections[body["name"]] = {"fields": body["fields"], "docs": {}}
        return httpx.Response(201, json={"name": body["name"], "fields": body["fields"], "num_documents": 0})

    def _alter(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        name, changes = match.group(1), json.loads(request.content)["fields"]
        if name not in self.collections:
            return self._message(404, "Not Found")
        fields = self.collections[name]["fields"]
        for change in changes:
            if change.get("drop"):
                fields[:] = [f for f in fields if f["name"] != change["name"]]
            else:
                fields.append(change)
        return httpx.Response(200, json={"fields": changes})

    def _drop(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        name = match.group(1)
        if name not in self.collections:
            return self._message(404, "Not Found")
        dropped = self.collections.pop(name)
        return httpx.Response(200, json={"name": name, "fields": dropped["fields"], "num_documents": 0})

    def _delete_document(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        name, doc_id = match.group(1), match.group(2)
        docs = self.collections.get(name, {}).get("docs", {})
        if doc_id not in docs:
            return self._message(404, "Could not find a document with id: " + doc_id)
        return httpx.Response(200, json=docs.pop(doc_id))

    def _problem(self, collection: dict[str, Any], doc: Doc) -> str | None:
        if not isinstance(doc.get("id"), str):
            return "Document's `id` field should be a string."
        for key, value in doc.items():
            field = self._field(collection, key)
            if field is None:
                continue  # stored, not indexed
            kind = field["type"]
            ok = {
                "string": isinstance(value, str),
                "string[]": isinstance(value, list) and all(isinstance(v, str) for v in value),
                "int64": isinstance(value, int) and not isinstance(value, bool),
                "int64[]": isinstance(value, list) and all(isinstance(v, int) for v in value),
                "bool": isinstance(value, bool),
            }.get(kind, True)
            if not ok:
                return f"Field `{key}` must be {'an' if kind[0] in 'aeiou' else 'a'} {kind}."
        for field in collection["fields"]:
            if ".*" not in field["name"] and not field.get("optional") and field["name"] not in doc:
                return f"Field `{field['name']}` has been declared in the schema, but is not found in the document."
        return None

    def _import(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        name = match.group(1)
        if name not in self.collections:
            return self._message(404, "Not found.")
        assert request.url.params.get("action") == "upsert"
        collection, lines = self.collections[name], []
        for line in request.content.decode().splitlines():
            doc = json.loads(line)
            problem = self._problem(collection, doc)
            if problem:
                lines.append(json.dumps({"success": False, "error": problem, "document": line}))
            else:
                collection["docs"][doc["id"]] = doc  # upsert: the whole document is replaced
                lines.append(json.dumps({"success": True}))
        return httpx.Response(200, text="\n".join(lines))

    def _clause(self, collection: dict[str, Any], text: str) -> Callable[[Doc], bool]:
        scanner = Scanner(text, TYPESENSE_TOKEN)
        name, op = scanner.take(), scanner.take()
        if self._field(collection, name) is None:
            raise LookupError(f"Could not find a filter field named `{name}` in the schema.")
        if op == ":=" and scanner.peek() == "[":
            scanner.take()
            values = []
            while (token := scanner.take()) != "]":
                if token != ",":
                    values.append(unquote_value(token))
            return lambda doc: any(compare(doc.get(name), "=", v) for v in values)
        value = unquote_value(scanner.take())
        ops = {":=": "=", ":": "=", ":>=": ">=", ":<=": "<=", ":>": ">", ":<": "<"}
        if op not in ops or scanner.peek() is not None:
            raise ValueError(f"Could not parse the filter query: `{text}`")
        return lambda doc: compare(doc.get(name), ops[op], value)

    def _search(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        name = match.group(1)
        if name not in self.collections:
            return self._message(404, "Not found.")
        collection, params = self.collections[name], request.url.params
        query_by = [f for f in params.get("query_by", "").split(",") if f]
        for field_name in query_by:
            field = self._field(collection, field_name)
            if field is None or not field["type"].startswith("string"):
                return self._message(400, f"Could not find a field named `{field_name}` in the schema.")
        try:
            clauses = [self._clause(collection, c) for c in params.get("filter_by", "").split("&&") if c.strip()]
        except (LookupError, ValueError) as exc:
            return self._message(400, str(exc))
        q = params.get("q", "")
        text = "" if q == "*" else q
        docs = [d for d in text_matches(collection["docs"].values(), text, query_by) if all(c(d) for c in clauses)]
        for sort in reversed([s for s in params.get("sort_by", "").split(",") if s]):
            field_name, _, direction = sort.partition(":")
            field = self._field(collection, field_name)
            if field is None or not field.get("sort", field["type"].startswith("int")):
                return self._message(400, f"Could not find a field named `{field_name}` in the schema for sorting.")
            docs = sort_docs(docs, field_name, direction == "desc")
        facets = []
        for field_name in [f for f in params.get("facet_by", "").split(",") if f]:
            field = self._field(collection, field_name)
            if field is None or not field.get("facet"):
                return self._message(400, f"Could not find a facet field named `{field_name}` in the schema.")
            counts = sorted(facet_counts(docs, field_name).items(), key=lambda vc: -vc[1])
            counts = counts[: int(params.get("max_facet_values", 10))]
            facets.append({"field_name": field_name, "sampled": False, "stats": {"total_values": len(counts)},
                           "counts": [{"value": v, "highlighted": v, "count": c} for v, c in counts]})  # fmt: skip
        page, per_page = int(params.get("page", 1)), int(params.get("per_page", 10))
        include = params.get("include_fields")
        window = docs[(page - 1) * per_page : page * per_page]
        answer = {
            "found": len(docs),
            "out_of": len(collection["docs"]),
            "page": page,
            "search_time_ms": 1,
            "search_cutoff": False,
            "facet_counts": facets,
            "hits": [{"document": retrieve(d, include.split(",") if include else None), "highlight": {},
                      "highlights": [], "text_match": 1} for d in window],
            "request_params": {"collection_name": name, "q": q, "per_page": per_page},
        }  # fmt: skip
        return httpx.Response(200, json=answer)


def fake_state(fake: FakeMeilisearch | FakeAlgolia | FakeTypesense) -> Mapping[str, Any]:
    """The documents a fake holds, by index or collection name (for assertions on what was written)."""
    if isinstance(fake, FakeTypesense):
        return {name: c["docs"] for name, c in fake.collections.items()}
    return {name: index["docs"] for name, index in fake.indexes.items()}
