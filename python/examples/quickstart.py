"""The quick start of docs/python.md, as a program: `mypy --strict` checks it and
python/tests/test_examples.py runs it against a real registry.

    python quickstart.py REGISTRY MODEL_DIR WORKDIR
"""

from __future__ import annotations

import sys
from pathlib import Path

import modelark


def main(registry: str, model_dir: str, workdir: str) -> str:
    work = Path(workdir)
    c = modelark.Client(home=str(work / "home"), plain_http=True, ca_file=None, insecure=False, offline=False)

    # Pack into the local store, and push to a registry.
    packed: modelark.Packed = c.pack(model_dir, "bert:1.0.0")
    pushed: modelark.Pushed = c.push(model_dir, f"{registry}/acme/bert:1.0.0")
    print(pushed.reference, pushed.digest, packed.digest == pushed.digest)

    # Read the metadata without downloading any weights.
    info: modelark.Inspected = c.inspect(f"{registry}/acme/bert:1.0.0")
    m: modelark.Metadata = info.metadata
    print(m.name, m.version, m.licenses, m.framework, m.task, m.tags, m.metrics)
    print(m.lineage.parent, [d.uri for d in m.lineage.datasets], m.lineage.source)
    for f in info.files:
        print(f.path, f.kind, f.size, f.digest)

    # Sign, then verify before use: a failure raises and writes nothing.
    keys: modelark.KeyPair = c.generate_key_pair(str(work / "cosign"), "")
    c.sign(f"{registry}/acme/bert:1.0.0", key=keys.private, password="")
    try:
        c.verify(f"{registry}/acme/bert:1.0.0", keys=[keys.public])
    except modelark.VerificationFailed as e:
        print("refused:", e.unmet)
        raise

    policy = work / "deploy.yaml"
    policy.write_text(f'keys: {{release: {keys.public}}}\nrules:\n  - scope: "**"\n    signatures: {{signers: [release]}}\n')
    pulled: modelark.Pulled = c.pull(f"{registry}/acme/bert:1.0.0", dest=str(work / "bert"), policy=str(policy))
    print(pulled.output, pulled.files)

    # Promote, then deploy by alias from the read-only fetch cache.
    c.promote(f"{registry}/acme/bert:1.0.0", "production", key=keys.private, password="", policy=str(policy))
    path: str = c.fetch(f"{registry}/acme/bert@production", policy=str(policy))
    # transformers.AutoModel.from_pretrained(path) reads it from here.

    hits: list[modelark.Hit] = c.search(f"{registry}/acme", ["framework=numpy"])
    print([(h.repository, h.tag) for h in hits])
    print(pushed.to_dict())
    return path


if __name__ == "__main__":
    print(main(sys.argv[1], sys.argv[2], sys.argv[3]))
