"""Import of EDM network pickles: exact weights, a normal teacher run, and nothing executed."""

import json
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch
from edm_format import SOURCE, edm_pickle

from koopkit_diffusion.safe_pickle import UnsafePickleError
from koopkit_diffusion.teacher import TeacherConfig, build_teacher, import_edm
from koopkit_diffusion.teacher.edm_pickle import check_declarative_source


def _teacher(label_dim, augment_dim=9, seed=0, tiny=False):
    config = TeacherConfig(
        shape=(3, 8, 8), label_dim=label_dim, network="unet", model_channels=8 if tiny else 16,
        channel_mult=(1,) if tiny else (1, 2), num_blocks=1, attn_resolutions=() if tiny else (4,),
        augment_dim=augment_dim, dropout=0.1,
    )  # fmt: skip
    torch.manual_seed(seed)
    teacher = build_teacher(config).eval()
    with torch.no_grad():  # no layer left at its ~0 initialisation
        for p in teacher.parameters():
            p.normal_(0, 0.2)
    return teacher, config


@pytest.mark.parametrize("label_dim", [0, 10])
def test_import_recovers_every_tensor_and_the_denoiser_exactly(tmp_path, label_dim):
    teacher, config = _teacher(label_dim)
    path = tmp_path / "network-snapshot.pkl"
    path.write_bytes(edm_pickle(teacher, config))
    imported = import_edm(path)
    assert imported.config.to_dict() == {**config.to_dict(), "sigma_max": 80.0}
    got = imported.teacher.state_dict()
    assert set(got) == set(teacher.state_dict())
    for name, value in teacher.state_dict().items():
        assert torch.equal(got[name], value), name
    x, sigma = torch.randn(4, 3, 8, 8), torch.tensor([0.01, 0.5, 3.0, 80.0])
    labels = torch.tensor([0, 3, 9, 1]) if label_dim else None
    torch.testing.assert_close(imported.teacher(x, sigma, labels), teacher(x, sigma, labels))
    assert imported.info["loss"] == "EDMLoss" and len(imported.info["sha256"]) == 64
    assert not any(p.requires_grad for p in imported.teacher.parameters())


def test_import_refuses_networks_it_cannot_reproduce(tmp_path, monkeypatch):
    import edm_format

    teacher, config = _teacher(0)
    songunet = edm_format._songunet

    def adm(net, cfg, source):  # an ADM network (DhariwalUNet) inside EDMPrecond
        record = songunet(net, cfg, source)
        record.class_name = "DhariwalUNet"
        return record

    monkeypatch.setattr(edm_format, "_songunet", adm)
    path = tmp_path / "adm.pkl"
    path.write_bytes(edm_format.edm_pickle(teacher, config))
    with pytest.raises(ValueError, match="adm.pkl: .*wraps a DhariwalUNet; only SongUNet"):
        import_edm(path)


def test_import_names_missing_and_unused_tensors(tmp_path):
    teacher, config = _teacher(0)
    # The file says augment_dim=0 but holds map_augment's weights: one tensor would be unused.
    lying = TeacherConfig.from_dict({**config.to_dict(), "augment_dim": 0})
    path = tmp_path / "net.pkl"
    path.write_bytes(edm_pickle(teacher, lying))
    with pytest.raises(ValueError, match=r"unused \['model.map_augment.weight'\]"):
        import_edm(path)


_RUN_LIKE_EDM = """
import sys, types
package, module = types.ModuleType("torch_utils"), types.ModuleType("torch_utils.persistence")
module.persistent_class = lambda cls: cls
package.persistence = module
sys.modules.update({"torch_utils": package, "torch_utils.persistence": module})
exec(open(sys.argv[1]).read(), {})  # what EDM's persistence does with the embedded source
"""


def test_a_file_whose_embedded_source_writes_a_file_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "written-by-the-pickle"
    evil = SOURCE + f"\nopen({str(marker)!r}, 'w').write('pwned')\n"
    # The payload is live: executing the source as EDM's loader does writes the file.
    (tmp_path / "source.py").write_text(evil)
    subprocess.run([sys.executable, "-c", _RUN_LIKE_EDM, str(tmp_path / "source.py")], check=True)
    assert marker.exists()
    marker.unlink()
    teacher, config = _teacher(10)
    path = tmp_path / "edm-cifar10-32x32-cond-vp.pkl"
    path.write_bytes(edm_pickle(teacher, config, source=evil))
    with pytest.raises(UnsafePickleError, match=r"would run open\(.*\(line \d+\)"):
        import_edm(path)
    assert not marker.exists()


class _System:
    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        import os

        return os.system, (self.command,)


def test_a_file_with_an_os_system_reduce_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "touched"
    payload = _System(f"touch {marker}")
    pickle.loads(pickle.dumps(payload))  # a plain unpickler runs it
    assert marker.exists()
    marker.unlink()
    teacher, config = _teacher(0)
    path = tmp_path / "edm.pkl"
    path.write_bytes(edm_pickle(teacher, config, extra={"dataset_kwargs": {"path": payload}}))
    with pytest.raises(UnsafePickleError, match=r"edm.pkl: refused to load the global \w+\.system"):
        import_edm(path)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("source", "what"),
    [
        ("import os\n", "import os"),
        ("import numpy as np\nnp.save('x', 1)\n", r"run np.save\("),
        ("class A:\n    open('x', 'w')\n", "run open"),
        ("def f(x=open('x')):\n    pass\n", "call open"),
        ("def evil(c):\n    return c\n@evil\nclass A:\n    pass\n", "apply the decorator evil"),
        ("import antigravity\n", "import antigravity"),
        ("float = print\nclass A:\n    x = float('inf')\n", "rebinds"),
        ("class A(__import__('os').system('x')):\n    pass\n", "call __import__"),
        ("with open('x') as f:\n    pass\n", "run with"),
    ],
)
def test_embedded_sources_that_would_do_something_are_refused(source, what):
    with pytest.raises(UnsafePickleError, match=what):
        check_declarative_source(source)


def test_a_declarative_network_source_is_accepted_with_its_classes():
    assert {"SongUNet", "EDMPrecond", "UNetBlock", "EDMLoss"} <= check_declarative_source(SOURCE)


def test_teacher_import_makes_a_normal_teacher_run(tmp_path):
    from koopkit_diffusion.cli import main
    from koopkit_diffusion.runs import RunRecord, load_teacher

    teacher, config = _teacher(10, seed=1, tiny=True)
    pkl = tmp_path / "edm-cifar10-32x32-cond-vp.pkl"
    pkl.write_bytes(edm_pickle(teacher, config))
    run = tmp_path / "teacher"
    assert main(["teacher", "import", "--edm-pickle", str(pkl), "--out", str(run),
                 "--data", "cifar10"]) == 0  # fmt: skip
    record = RunRecord.read(run)
    assert record.kind == "teacher" and record.source == "imported:edm-pickle"
    assert record.data == {"name": "cifar10", "root": None}
    loaded = load_teacher(run)
    x, sigma, y = torch.randn(2, 3, 8, 8), torch.tensor([0.3, 7.0]), torch.tensor([2, 5])
    torch.testing.assert_close(loaded(x, sigma, y), teacher(x, sigma, y))
    # A second import into the same directory is refused.
    assert main(["teacher", "import", "--edm-pickle", str(pkl), "--out", str(run)]) == 2

    out = tmp_path / "samples.npz"
    assert main(["teacher", "sample", "--run", str(run), "--n", "4", "--steps", "1",
                 "--out", str(out), "--label", "3"]) == 0  # fmt: skip
    with np.load(out) as z:
        assert z["samples"].shape == (4, 3, 8, 8) and (z["labels"] == 3).all()

    pairs = tmp_path / "pairs"
    assert main(["pairs", "generate", "--teacher", str(run), "--out", str(pairs), "--n", "4",
                 "--steps", "1", "--batch-size", "2", "--shard-size", "2"]) == 0  # fmt: skip
    manifest = json.loads((pairs / "manifest.json").read_text())
    assert manifest["count"] == 4 and manifest["label_dim"] == 10

    student = tmp_path / "kdm"
    overrides = {
        "model.model_channels": "8", "model.channel_mult": "1", "model.num_blocks": "1",
        "model.attn_resolutions": "", "model.loss": "mse", "model.w_adv": "0",
        "model.latent_dim": "none", "train.steps": "1", "train.batch_size": "2",
        "train.progress": "false", "train.sample_every": "0", "train.loss_figure": "false",
        "model.shape": "3,8,8",
    }  # fmt: skip
    from koopkit_diffusion.runs import evaluate_run, train_run

    train_run("cifar10-cond", student, pairs=pairs, overrides=overrides)
    report = evaluate_run(student, n=2)
    # The teacher is scored with the sampler that made the pairs (the pair set's record: 1 step).
    assert report["teacher"]["nfe"] == 1 and report["model"]["nfe"] == 1
