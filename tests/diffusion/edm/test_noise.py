"""The one rule for the seeded noises and classes every sampler of the package draws."""

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from tiny_runs import mlp_teacher

from koopkit_diffusion.edm import class_labels, concat_batches, noise_batches
from koopkit_diffusion.students import KDM, KDMConfig

SHAPES = st.sampled_from([(1,), (2,), (3,), (5,), (1, 2, 3), (3, 4, 4)])


@given(n=st.integers(1, 200), batch=st.integers(1, 64), shape=SHAPES, seed=st.integers(0, 9))
def test_the_noises_are_one_draw_whatever_the_batch_size(n, batch, shape, seed):
    drawn = list(noise_batches(n, shape, seed=seed, batch_size=batch))
    whole = torch.randn((n, *shape), generator=torch.Generator().manual_seed(seed))
    assert torch.equal(torch.cat([eps for eps, _ in drawn]), whole)
    assert all(y is None for _, y in drawn) and sum(len(eps) for eps, _ in drawn) == n


@given(n=st.integers(1, 120), batch=st.integers(1, 50), seed=st.integers(0, 9))
def test_classes_are_uniform_draws_of_their_own_stream(n, batch, seed):
    labels = torch.cat([y for _, y in noise_batches(n, (2,), seed=seed, batch_size=batch,
                                                    label_dim=7)])  # fmt: skip
    assert torch.equal(labels, class_labels(n, 7, seed=seed))
    assert labels.dtype == torch.int64 and 0 <= labels.min() and labels.max() < 7
    # the classes do not shift the noises: those of a conditional draw are the unconditional ones
    noises = torch.cat([eps for eps, _ in noise_batches(n, (2,), seed=seed, label_dim=7)])
    assert torch.equal(noises, torch.cat([e for e, _ in noise_batches(n, (2,), seed=seed)]))


def test_classes_are_uniform_and_one_class_or_given_classes_are_kept():
    drawn = class_labels(20_000, 10, seed=3)
    counts = torch.bincount(drawn, minlength=10).double()
    assert counts.min() > 1800 and counts.max() < 2200
    assert class_labels(5, 10, labels=4).tolist() == [4] * 5
    given_labels = torch.tensor([1, 0, 2])
    assert torch.equal(class_labels(3, 3, labels=given_labels), given_labels)
    assert class_labels(4, 0) is None


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"labels": 3}, "unconditional"),
        ({"label_dim": 3, "labels": 3}, r"\[0, 3\)"),
        ({"label_dim": 3, "labels": torch.zeros(4)}, "integer classes of shape \\(5,\\)"),
        ({"label_dim": 3, "batch_size": 0}, "batch_size must be a positive integer"),
        ({"seed": -1}, "seed must be a non-negative integer"),
        ({"noise": torch.zeros(5, 3)}, r"noise must have shape \(5, 2\)"),
    ],
)
def test_bad_requests_are_refused_with_what_was_expected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        list(noise_batches(5, (2,), **kwargs))


def test_a_student_and_a_teacher_sample_the_same_seed_alike_in_any_batches():
    torch.manual_seed(0)
    student = KDM(KDMConfig(shape=(2,), mlp_width=16, mlp_depth=1, latent_dim=4, label_dim=3))
    teacher = mlp_teacher(label_dim=3)
    for model, extra in ((student, {}), (teacher, {"n_steps": 3})):
        a, la = concat_batches(model.sample_batches(37, seed=5, batch_size=8, **extra))
        b, lb = concat_batches(model.sample_batches(37, seed=5, batch_size=37, **extra))
        assert torch.allclose(a, b, atol=1e-6) and torch.equal(la, lb)
        assert torch.equal(la, class_labels(37, 3, seed=5))
    # on the same given noises the teacher's samples are its integrate's
    noise = torch.randn(9, 2, generator=torch.Generator().manual_seed(1))
    labels = torch.arange(9) % 3
    x, y = concat_batches(teacher.sample_batches(noise=noise, labels=labels, n_steps=3))
    assert torch.equal(y, labels)
    assert torch.allclose(x, teacher.integrate(noise, labels, 3).cpu())
