"""Self time per wasm function in a `node --cpu-prof` profile of
hit-profile.mjs: wasm-profile.py PROFILE REQUESTS (the requests the run made,
warm-up included), in nanoseconds per request, largest first."""
import collections
import json
import re
import sys

profile = json.load(open(sys.argv[1]))
requests = int(sys.argv[2])
nodes = {node["id"]: node for node in profile["nodes"]}
per_sample = (profile["endTime"] - profile["startTime"]) / len(profile["samples"])
in_module = collections.Counter()
elsewhere = 0
for node_id, samples in collections.Counter(profile["samples"]).items():
    frame = nodes[node_id]["callFrame"]
    if frame["url"].startswith("wasm://"):
        in_module[re.sub(r"17h[0-9a-f]{16}E$", "", frame["functionName"])] += samples
    else:
        elsewhere += samples
ns = lambda samples: samples * per_sample * 1000 / requests
print(f"\nin the module: {ns(sum(in_module.values())):.0f} ns a request; the host and Node: {ns(elsewhere):.0f}")
for name, samples in in_module.most_common(30):
    print(f"{ns(samples):7.0f} ns  {name[:150]}")
