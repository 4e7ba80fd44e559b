"""Connectors against real files, a real PostgreSQL and a real (moto) S3 endpoint."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mainsail import Client
from mainsail.core.errors import InvalidInput, NotFound
from mainsail.data import connectors
from mainsail.data.canonical import write_parquet


@pytest.fixture
def client(tmp_path: Path):
    c = Client(f"sqlite:///{tmp_path / 'meta.db'}")
    yield c
    c.close()


def sample_frame(n: int = 100) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"id": np.arange(n), "score": rng.random(n).round(6), "city": rng.choice(["a", "b"], n)})


def test_csv_tsv_gz_parquet_jsonl_give_the_same_version(client: Client, tmp_path: Path) -> None:
    df = sample_frame()
    df.to_csv(tmp_path / "d.csv", index=False)
    df.to_csv(tmp_path / "d.tsv", index=False, sep="\t")
    with gzip.open(tmp_path / "d.csv.gz", "wt") as fh:
        df.to_csv(fh, index=False)
    df.to_parquet(tmp_path / "d.parquet", index=False)
    (tmp_path / "d.jsonl").write_text("\n".join(json.dumps(r) for r in df.to_dict("records")) + "\n")
    ids = {client.ingest_dataset(tmp_path / f, "d").id for f in ("d.csv", "d.tsv", "d.csv.gz", "d.parquet", "d.jsonl")}
    assert len(ids) == 1
    v = client.get_dataset_version("d")
    assert v.number == 1 and v.source["kind"] == "csv" and v.source["uri"].endswith("d.csv")
    assert client.load_dataset("d").equals(df)


def test_pandas_and_arrow_sources_and_chunking_do_not_change_the_version(client: Client) -> None:
    df = sample_frame(1000)
    table = pa.Table.from_pandas(df, preserve_index=False)
    chunked = pa.Table.from_batches(table.to_batches(max_chunksize=77))
    ids = {client.ingest_dataset(src, "d").id for src in (df, table, chunked, table.to_batches()[0],
                                                          pa.RecordBatchReader.from_batches(table.schema, table.to_batches()))}
    assert len(ids) == 1
    assert client.ingest_dataset(df.set_index("id"), "indexed").columns[0].name == "id"  # a named index is kept
    with pytest.raises(InvalidInput, match="cannot ingest a list"):
        client.ingest_dataset([1, 2], "d")


def test_malformed_csv_names_the_line(client: Client, tmp_path: Path) -> None:
    lines = ["a,b,c"] + [f"{i},{i},{i}" for i in range(1, 2000)]
    lines[1500] = "1,2"
    (tmp_path / "bad.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(InvalidInput) as ei:
        client.ingest_dataset(tmp_path / "bad.csv", "d")
    assert "line 1501" in ei.value.detail and ei.value.errors[0]["loc"] == ["source", "line 1501"]
    lines[1500] = "1,oops,3"
    (tmp_path / "bad.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(InvalidInput) as ei:
        client.ingest_dataset(tmp_path / "bad.csv", "d", schema={"b": "int64"})
    assert ei.value.errors[0]["loc"] == ["source", "line 1501", "column 2"] and "oops" in ei.value.detail
    with pytest.raises(NotFound):
        client.ingest_dataset(tmp_path / "missing.csv", "d")
    with pytest.raises(InvalidInput, match="format"):
        client.ingest_dataset(tmp_path / "bad.xyz", "d")
    assert not list(client.iter_datasets())


def test_unterminated_quote_fails_naming_the_line(client: Client, tmp_path: Path, monkeypatch) -> None:
    """An unclosed quote makes pyarrow swallow the rest of the block into one value; the ingest must fail
    naming the line where the quote opens, not store corrupt rows (first, middle and last block)."""
    monkeypatch.setattr(connectors, "CSV_BLOCK", 1 << 14)  # several blocks
    lines = ["id,name"] + [f"{i},n{i}" for i in range(1, 5000)]
    for bad in (3, 2500, 4999):
        broken = list(lines)
        broken[bad] = f'{bad},"n{bad}'
        (tmp_path / "q.csv").write_text("\n".join(broken) + "\n")
        with pytest.raises(InvalidInput) as ei:
            client.ingest_dataset(tmp_path / "q.csv", "q")
        assert ei.value.code == "invalid_csv" and f"line {bad + 1}" in ei.value.detail, ei.value.detail
        assert "never closed" in ei.value.detail and ei.value.errors[0]["loc"] == ["source", f"line {bad + 1}"]
    assert not list(client.iter_datasets())
    # a quoted value that legitimately spans lines (also as the last row) is still accepted
    (tmp_path / "ok.csv").write_text('id,note\n1,"two\nlines"\n2,"last\nrow"\n')
    client.ingest_dataset(tmp_path / "ok.csv", "ok")
    assert client.load_dataset("ok")["note"].tolist() == ["two\nlines", "last\nrow"]


def test_malformed_jsonl_and_parquet(client: Client, tmp_path: Path) -> None:
    (tmp_path / "bad.jsonl").write_text('{"a": 1}\n{"a": 2}\n{"a": \n')
    with pytest.raises(InvalidInput) as ei:
        client.ingest_dataset(tmp_path / "bad.jsonl", "d")
    assert ei.value.errors[0]["loc"] == ["source", "line 3"]
    (tmp_path / "bad.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(InvalidInput) as ei:
        client.ingest_dataset(tmp_path / "bad.parquet", "d")
    assert ei.value.code == "invalid_parquet"


def test_schema_cast_and_mismatch_names_column_and_types(client: Client) -> None:
    df = pd.DataFrame({"n": ["1", "2", "x"], "m": [1, 2, 3]})
    v = client.ingest_dataset(df.iloc[:2], "d", schema={"n": "int64", "m": "float64"})
    assert {c.name: c.type for c in v.columns} == {"n": "int64", "m": "double"}
    with pytest.raises(InvalidInput) as ei:
        client.ingest_dataset(df, "d", schema={"n": "int64"})
    assert ei.value.errors[0]["loc"] == ["schema", "n"]
    assert "column 'n' is string" in ei.value.detail and "declares int64" in ei.value.detail
    with pytest.raises(InvalidInput, match="unknown type"):
        client.ingest_dataset(df, "d", schema={"m": "integer128"})


def test_sql_on_postgres(client: Client, pg_url: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE customers (id int PRIMARY KEY, name text, spend numeric(10,2), "
                             "joined timestamptz, active boolean)")
        conn.exec_driver_sql("INSERT INTO customers SELECT g, 'c' || g, g * 1.5, "
                             "'2026-01-01'::timestamptz + g * interval '1 day', mod(g, 2) = 0 FROM generate_series(1, 250) g")
    engine.dispose()
    v = client.ingest_dataset(pg_url, "customers", query="SELECT * FROM customers WHERE id <= 200 ORDER BY id")
    assert v.row_count == 200 and v.source["kind"] == "sql" and "ORDER BY id" in v.source["query"]
    types = {c.name: c.type for c in v.columns}
    assert types["id"] == "int64" and types["name"] == "string" and types["active"] == "bool"
    assert types["spend"].startswith("decimal128") and types["joined"].startswith("timestamp")
    df = client.load_dataset("customers", where="active")
    assert len(df) == 100 and df["id"].iloc[0] == 2
    like = client.ingest_dataset(pg_url, "c1", query="SELECT id FROM customers WHERE name LIKE 'c1%'")
    assert like.row_count == 111  # '%' stays SQL, not a placeholder
    query = "SELECT id,\n       name FORM customers"
    with pytest.raises(InvalidInput) as ei:
        client.ingest_dataset(pg_url, "customers", query=query)
    err = ei.value
    assert err.code == "sql_error" and err.errors[0]["loc"] == ["query", f"position {query.index('customers') + 1}"]
    assert "line 2, column 18" in err.detail and "syntax error" in err.detail
    with pytest.raises(InvalidInput) as ei:
        client.ingest_dataset(pg_url, "customers", query="SELECT nope FROM customers")
    assert ei.value.errors[0]["loc"] == ["query", "position 8"]


def test_sql_on_sqlite_names_the_token(client: Client, tmp_path: Path) -> None:
    import sqlite3

    db = tmp_path / "src.db"
    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE t (a INTEGER, b TEXT)")
        con.executemany("INSERT INTO t VALUES (?, ?)", [(i, f"v{i}") for i in range(50)])
    v = client.ingest_dataset(f"sqlite:///{db}", "t", query="SELECT a, b FROM t WHERE a % 5 = 0")
    assert v.row_count == 10
    with pytest.raises(InvalidInput) as ei:
        client.ingest_dataset(f"sqlite:///{db}", "t", query="SELEC a FROM t")
    assert ei.value.errors[0]["loc"] == ["query", "position 1"]
    with pytest.raises(InvalidInput, match="needs a query"):
        client.ingest_dataset(f"sqlite:///{db}", "t")


def test_s3_source(client: Client, s3_artifact_root: str, tmp_path: Path) -> None:
    import fsspec

    df = sample_frame()
    bucket = s3_artifact_root.split("/")[2]
    fs = fsspec.filesystem("s3", client_kwargs={"endpoint_url": connectors.os.environ["MAINSAIL_S3_ENDPOINT_URL"]})
    with fs.open(f"{bucket}/in/d.csv", "wb") as fh:
        fh.write(df.to_csv(index=False).encode())
    write_parquet(pa.Table.from_pandas(df, preserve_index=False), tmp_path / "d.parquet")
    fs.put_file(str(tmp_path / "d.parquet"), f"{bucket}/in/d.parquet")
    a = client.ingest_dataset(f"s3://{bucket}/in/d.csv", "d")
    b = client.ingest_dataset(f"s3://{bucket}/in/d.parquet", "d")
    assert a.id == b.id and a.source["uri"] == f"s3://{bucket}/in/d.csv"
    with pytest.raises(NotFound):
        client.ingest_dataset(f"s3://{bucket}/in/missing.csv", "d")


def test_parquet_folder_and_progress(client: Client, tmp_path: Path) -> None:
    folder = tmp_path / "parts"
    folder.mkdir()
    df = sample_frame(300)
    for i in range(3):
        pq.write_table(pa.Table.from_pandas(df.iloc[i * 100:(i + 1) * 100], preserve_index=False), folder / f"{i}.parquet")
    seen: list[tuple[str, int, int | None]] = []
    v = client.ingest_dataset(folder, "parts", progress=lambda s, d, t: seen.append((s, d, t)))
    assert v.row_count == 300 and [s for s, _, _ in seen][-1] == "profile"
    loads = [(d, t) for s, d, t in seen if s == "load"]
    assert loads and loads[-1] == (300, 300) and [d for d, _ in loads] == sorted(d for d, _ in loads)
    assert sorted(client.load_dataset("parts")["id"]) == list(range(300))
