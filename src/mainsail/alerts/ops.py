"""Alert API operations, declared once. Routes live under ``/api/v1/alerts``."""

from mainsail.alerts import service as s
from mainsail.core.ops import OpSet

ops = OpSet("alerts", projects=True)  # objects per project
ops.add("POST", "/alerts/rules", s.create_rule, status=201)
ops.add("GET", "/alerts/rules", s.list_rules)
ops.add("GET", "/alerts/rules/{name}", s.get_rule)
ops.add("PUT", "/alerts/rules/{name}", s.update_rule)
ops.add("DELETE", "/alerts/rules/{name}", s.delete_rule)
ops.add("POST", "/alerts/silences", s.create_silence, status=201)
ops.add("GET", "/alerts/silences", s.list_silences)
ops.add("DELETE", "/alerts/silences/{id}", s.expire_silence)
ops.add("POST", "/alerts/channels", s.create_channel, status=201)
ops.add("GET", "/alerts/channels", s.list_channels)
ops.add("GET", "/alerts/channels/{name}", s.get_channel)
ops.add("DELETE", "/alerts/channels/{name}", s.delete_channel)
ops.add("POST", "/alerts/channels/{name}/test", s.send_test_message, write=False)
ops.add("GET", "/alerts/deliveries", s.list_deliveries)
ops.add("POST", "/alerts/deliveries/process", s.process_deliveries, write=False)
ops.add("POST", "/alerts/evaluate", s.evaluate_pending)
ops.add("GET", "/alerts", s.list_alerts)
ops.add("GET", "/alerts/{id}", s.get_alert)
ops.add("POST", "/alerts/{id}/ack", s.ack_alert)
