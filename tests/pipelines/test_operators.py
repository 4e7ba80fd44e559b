"""Built-in operators end to end (embedded): ingest → validate → train / tune → evaluate → gate →
register, sql_query on DuckDB and on a SQLAlchemy URL, notify to a webhook, and operators whose
domain is missing."""

from __future__ import annotations

import http.server
import json
import threading
from pathlib import Path

import pytest

from mainsail import Client
from mainsail.core.errors import InvalidInput
from mainsail.pipelines import operators


@pytest.fixture
def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("MAINSAIL_PIPELINE_PROCESSES", "2")
    c = Client(f"sqlite:///{tmp_path / 'ops.db'}", artifact_root=str(tmp_path / "art"))
    yield c
    c.close()


def _csv(tmp_path: Path) -> str:
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame.iloc[:, [0, 1, 2, 3, 7, -1]]
    frame.columns = ["radius", "texture", "perimeter", "area", "concave", "target"]
    path = tmp_path / "cancer.csv"
    frame.to_csv(path, index=False)
    return str(path)


def ml_pipeline(csv: str, gate: str) -> dict:
    data = "${tasks.ingest.dataset_version}"
    common = {"data": data, "target": "target", "experiment": "pipe-ml"}
    return {"name": "ml", "params": {"threshold": gate}, "tasks": [
        {"name": "ingest", "operator": "data_ingestion", "params": {"source": csv, "name": "cancer"}},
        {"name": "validate", "operator": "data_validation", "params": {"dataset": data, "suite": {
            "name": "basic", "checks": [{"type": "not_null", "column": "radius"}]}}},
        {"name": "train", "operator": "model_training", "depends_on": ["validate"], "cache": True, "params": {
            **common, "estimator": "sklearn.linear_model.LogisticRegression",
            "estimator_params": {"max_iter": 500}, "metrics": ["accuracy", "roc_auc"]}},
        {"name": "tune", "operator": "hyperparameter_tuning", "depends_on": ["validate"], "cache": True, "params": {
            **common, "estimator": "sklearn.tree.DecisionTreeClassifier", "objective": "roc_auc",
            "search_space": {"max_depth": {"type": "int", "low": 1, "high": 6}},
            "max_jobs": 4, "max_parallel_jobs": 2}},
        {"name": "evaluate", "operator": "model_evaluation", "params": {
            "model": "${tasks.train.model_uri}", "data": data, "target": "target", "metrics": ["accuracy", "roc_auc"],
            "run_id": "${tasks.train.run_id}"}},
        {"name": "gate", "operator": "quality_gate", "params": {
            "metrics": "${tasks.evaluate.metrics}", "thresholds": {"roc_auc": "${params.threshold}"}}},
        {"name": "register", "operator": "model_registration", "depends_on": ["gate"], "params": {
            "name": "cancer", "source": "${tasks.train.model_uri}", "alias": "champion"}},
        {"name": "tell", "operator": "notify", "params": {"message": "registered v${tasks.register.version}"}},
    ]}


def test_ml_pipeline_end_to_end(client: Client, tmp_path: Path) -> None:
    client.apply_pipeline(ml_pipeline(_csv(tmp_path), ">= 0.8"))
    run = client.run_pipeline("ml", timeout=240)
    assert run.status == "succeeded", (run.error, [(t.name, t.error) for t in run.tasks])
    out = {t.name: t.output for t in run.tasks}
    assert out["ingest"]["dataset_version"].startswith("cancer@") and out["ingest"]["rows"] == 569
    train = client.get_run(out["train"]["run_id"])
    assert train.tags["mainsail.pipeline_run_id"] == run.id and train.tags["mainsail.dataset_version"]
    assert train.metrics["roc_auc"] > 0.8
    evaluation = client.get_run(out["evaluate"]["run_id"])
    assert evaluation.parent_run_id == train.id and evaluation.metrics == out["evaluate"]["metrics"]
    tune = out["tune"]
    assert tune["trials"] == 4 and 1 <= tune["best_params"]["max_depth"] <= 6
    children = client.search_runs(filter=f"tags.`mainsail.parent_run_id` = '{tune['run_id']}'").items
    assert len(children) == 4 and {r.parent_run_id for r in children} == {tune["run_id"]}
    assert tune["best_run_id"] in {r.id for r in children}
    v = client.get_model_version_by_alias("cancer", "champion")
    assert v.version == out["register"]["version"] == 1 and v.lineage.run_id == out["train"]["run_id"]
    model = client.load_model(out["register"]["uri"])
    assert len(model.predict(client.load_dataset(out["ingest"]["dataset_version"]).drop(columns=["target"]))) == 569
    assert "registered v1" in client.pipeline_task_log(run.id, "tell")

    # the same pipeline with an unreachable gate: nothing is registered, the run names the gate
    failed = client.run_pipeline("ml", {"threshold": ">= 1.01"}, timeout=240)
    assert failed.status == "failed" and "'gate'" in failed.error and "quality gate failed" in failed.error
    assert failed.task("register").status == "skipped" and failed.task("ingest").cached is False
    assert failed.task("train").cached and failed.task("tune").cached  # same data, same params: reused
    assert client.get_registered_model("cancer").latest_version == 1


def test_sql_query_on_duckdb_and_sqlalchemy(client: Client, tmp_path: Path) -> None:
    import sqlite3

    db = tmp_path / "shop.db"
    with sqlite3.connect(db) as con:
        con.execute("create table orders (id int, amount real)")
        con.executemany("insert into orders values (?, ?)", [(i, i * 1.5) for i in range(10)])
    client.apply_pipeline({"name": "sql", "tasks": [
        {"name": "ext", "operator": "sql_query", "params": {"url": f"sqlite:///{db}",
                                                            "query": "select count(*) as n, sum(amount) as total from orders"}},
        {"name": "duck", "operator": "sql_query", "params": {"query": "select ${tasks.ext.rows.0.0} * 2 as doubled",
                                                             "output_dataset": "doubled"}},
    ]})
    run = client.run_pipeline("sql", timeout=120)
    assert run.status == "succeeded", run.error
    assert run.task("ext").output["rows"] == [[10, 67.5]] and run.task("ext").output["columns"] == ["n", "total"]
    duck = run.task("duck").output
    assert duck["rows"] == [[20]] and duck["dataset_version"].startswith("doubled@")


def test_batch_inference_outputs_by_reference(client: Client, tmp_path: Path) -> None:
    import pandas as pd
    import pyarrow.parquet as pq
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    from mainsail.registry.packaging import save_model

    frame = load_iris(as_frame=True).frame
    x = frame.drop(columns=["target"])
    model = LogisticRegression(max_iter=500).fit(x, frame["target"])
    run = client.create_run(client.ensure_experiment("batch").id)
    save_model(model, tmp_path / "pkg", input_example=x.head(3))
    client.log_artifacts(run.id, tmp_path / "pkg", "model")
    client.end_run(run.id)
    v = client.register_model_version("iris", source=f"runs:/{run.id}/model")
    client.set_model_alias("iris", "champion", v.version)
    x.to_parquet(tmp_path / "iris-x.parquet")
    scored_file = str(tmp_path / "out" / "scored.parquet")
    client.apply_pipeline({"name": "score", "tasks": [
        {"name": "ingest", "operator": "data_ingestion", "params": {"source": str(tmp_path / "iris-x.parquet"),
                                                                    "name": "iris-x"}},
        {"name": "to-dataset", "operator": "batch_inference", "params": {
            "model": "models:/iris@champion", "source": "dataset:${tasks.ingest.dataset_version}",
            "output_dataset": "iris-scored", "chunk_rows": 40}},
        {"name": "to-file", "operator": "batch_inference", "params": {
            "model": "models:/iris/1", "source": "${tasks.to-dataset.output}", "output": scored_file,
            "column": "again"}},
    ]})
    with pytest.raises(InvalidInput) as ei:
        client.apply_pipeline({"name": "nowhere", "tasks": [{"name": "b", "operator": "batch_inference", "params": {
            "model": "models:/iris/1", "source": "x.parquet"}}]})
    assert ei.value.errors[0]["loc"][:3] == ["body", "tasks", 0] and "output_dataset" in ei.value.errors[0]["msg"]
    result = client.run_pipeline("score", timeout=120)
    assert result.status == "succeeded", (result.error, [(t.name, t.error) for t in result.tasks])
    first = result.task("to-dataset").output
    assert first["rows"] == 150 and first["chunks"] == 4 and (first["model"], first["version"]) == ("iris", 1)
    assert first["dataset_version"].startswith("iris-scored@") and first["output"] == f"dataset:{first['dataset_version']}"
    stored = client.load_dataset(first["dataset_version"])
    assert (stored["prediction"].to_numpy() == model.predict(x)).all()
    second = result.task("to-file").output
    assert second["output"] == scored_file and second["dataset_version"] is None
    again = pq.read_table(scored_file).to_pandas()
    assert list(again.columns) == [*x.columns, "prediction", "again"]
    assert isinstance(again, pd.DataFrame) and (again["again"] == again["prediction"]).all()
    assert "150 rows scored by iris v1" in client.pipeline_task_log(result.id, "to-dataset")


def test_notify_webhook(client: Client) -> None:
    got: list[dict] = []

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            got.append(json.loads(self.rfile.read(int(self.headers["content-length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    srv = http.server.HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        client.apply_pipeline({"name": "hook", "tasks": [{"name": "n", "operator": "notify", "params": {
            "message": "hello", "channel": "webhook", "url": f"http://127.0.0.1:{srv.server_port}/h"}}]})
        run = client.run_pipeline("hook", timeout=60)
    finally:
        srv.shutdown()
    assert run.status == "succeeded" and run.task("n").output["status"] == 204
    assert got == [{"message": "hello", "pipeline": "hook", "run_id": run.id, "task": "n"}]


def test_operator_of_a_missing_domain_is_refused_by_name(client: Client) -> None:
    # every built-in operator's domain has landed by now, so declare one whose Client method does not exist
    operators.get("noop")  # load the built-ins first
    operators.operator("needs_a_future_domain", operators.OpParams, requires="a_method_no_client_has",
                       capability="a future domain")(lambda tc, p: None)
    try:
        op = operators.get("needs_a_future_domain")
        assert op is not None and "Client.a_method_no_client_has" in (op.unavailable() or "")
        with pytest.raises(InvalidInput) as ei:
            client.apply_pipeline({"name": "fm", "tasks": [{"name": "m", "operator": "needs_a_future_domain"}]})
        err = ei.value.errors[0]
        assert err["loc"] == ["body", "tasks", 0, "operator"] and "a future domain" in err["msg"]
    finally:
        operators._OPERATORS.pop("needs_a_future_domain", None)
    assert all(o.unavailable() is None for o in operators.all_operators().values())
