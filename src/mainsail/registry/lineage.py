"""The lineage graph of a model version."""

from __future__ import annotations

from typing import Any

from mainsail.registry.schemas import LineageEdge, LineageGraph, LineageNode, ModelVersion


def build_graph(v: ModelVersion, run: Any | None) -> LineageGraph:
    """Nodes and edges from the version back to its run, experiment, data, features and code."""
    me = f"model_version:{v.id}"
    nodes = [LineageNode(id=me, type="model_version", label=f"{v.name} v{v.version}",
                         data={"stage": v.stage, "framework": v.framework})]
    edges: list[LineageEdge] = []
    lin = v.lineage
    if lin.run_id:
        rid = f"run:{lin.run_id}"
        data = {"params": run.params, "metrics": run.metrics, "status": run.status} if run else {}
        nodes.append(LineageNode(id=rid, type="run", label=run.name if run else lin.run_id, data=data))
        edges.append(LineageEdge(source=rid, target=me, relation="produced"))
        if lin.experiment_id:
            eid = f"experiment:{lin.experiment_id}"
            nodes.append(LineageNode(id=eid, type="experiment", label=lin.experiment_id))
            edges.append(LineageEdge(source=eid, target=rid, relation="contains"))
    trained_on = f"run:{lin.run_id}" if lin.run_id else me
    for d in lin.dataset_versions:
        nodes.append(LineageNode(id=f"dataset_version:{d}", type="dataset_version", label=d))
        edges.append(LineageEdge(source=f"dataset_version:{d}", target=trained_on, relation="trained_on"))
    for fv in lin.feature_views:
        nodes.append(LineageNode(id=f"feature_view:{fv}", type="feature_view", label=fv))
        edges.append(LineageEdge(source=f"feature_view:{fv}", target=trained_on, relation="features_from"))
    if lin.git_commit:
        nodes.append(LineageNode(id=f"git_commit:{lin.git_commit}", type="git_commit", label=lin.git_commit[:12]))
        edges.append(LineageEdge(source=f"git_commit:{lin.git_commit}", target=trained_on, relation="code"))
    if lin.parent_version_id:
        pid = f"model_version:{lin.parent_version_id}"
        nodes.append(LineageNode(id=pid, type="model_version", label=lin.parent_version_id))
        edges.append(LineageEdge(source=pid, target=me, relation="retrained_from"))
    return LineageGraph(nodes=nodes, edges=edges)
