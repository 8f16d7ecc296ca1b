"""Failure drills (`hasentinel drill`, docs/drills.md).

backend.py    LabBackend: what a drill needs from a lab (exec, spawn, kill, power, cut, netem)
netns.py      NetnsLab: a private three-host lab in network namespaces (hsdrill-*)
sampler.py    runs on each host: VIP on eth0, the local server's role, the local sentinel's view
workload.py   runs on the client: SET / SET+WAIT 1 through the VIP, every ack and error; verify
scenarios.py  the faults, as steps on a LabBackend
checker.py    downtime, lost acks, fenced acks, VIP holders, failovers, convergence; targets
report.py     the JSON report (schema), the rich table, the PNG timeline
runner.py     one trial: fresh cluster, samplers + workload, scenario, settle, verify, check
"""
