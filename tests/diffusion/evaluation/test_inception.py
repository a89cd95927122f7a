"""koopkit_diffusion.evaluation.inception with random weights saved in the standard format."""

import numpy as np
import pytest
import torch

from koopkit_diffusion.evaluation.inception import (
    FEATURE_DIM,
    WEIGHTS_FILENAME,
    FIDInceptionV3,
    inception_features,
    inception_stats,
    load_inception,
    preprocess,
    quantize_uint8,
)

# Keys of pt_inception-2015-12-05-6726825d.pth (a sample; the whole set is checked on load).
_STANDARD_KEYS = [
    "Conv2d_1a_3x3.conv.weight",
    "Conv2d_1a_3x3.bn.running_var",
    "Mixed_5b.branch1x1.conv.weight",
    "Mixed_5b.branch_pool.bn.bias",
    "Mixed_6e.branch7x7dbl_5.conv.weight",
    "Mixed_7a.branch7x7x3_4.conv.weight",
    "Mixed_7c.branch3x3dbl_3b.bn.running_mean",
    "fc.weight",
    "fc.bias",
]


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory):
    torch.manual_seed(0)
    model = FIDInceptionV3()
    # Old PyTorch files have no num_batches_tracked buffers: save like them.
    state = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    path = tmp_path_factory.mktemp("inception") / WEIGHTS_FILENAME
    torch.save(state, path)
    return path, model.eval()


@pytest.fixture(scope="module")
def images():
    return torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(1)) * 2 - 1


def test_state_dict_uses_the_standard_key_names(weights_file):
    state = torch.load(weights_file[0], weights_only=True)
    assert all(key in state for key in _STANDARD_KEYS)
    assert tuple(state["fc.weight"].shape) == (1008, FEATURE_DIM)
    assert not any("AuxLogits" in key for key in state)


def test_features_have_shape_n_2048_are_deterministic_and_use_the_loaded_weights(
    weights_file, images
):
    path, original = weights_file
    loaded = load_inception(path)
    first = inception_features(loaded, images)
    assert first.shape == (2, FEATURE_DIM) and first.dtype == torch.float32
    assert torch.isfinite(first).all() and first.std() > 0
    # A second instance with the same weights gives bit-identical features (numpy input too).
    torch.testing.assert_close(inception_features(original, images.numpy()), first, rtol=0, atol=0)
    # Statistics streamed over an iterable of batches.
    stats = inception_stats(loaded, iter([images]), progress=False)
    np.testing.assert_allclose(stats.mean, first.double().mean(0).numpy(), rtol=1e-5, atol=1e-6)
    assert stats.covariance.shape == (FEATURE_DIM, FEATURE_DIM)


def test_quantisation_follows_the_image_file_convention():
    x = torch.tensor([-1.5, -1.0, -0.004, 0.0, 0.5, 1.0, 2.0]).reshape(1, 1, 1, 7)
    assert quantize_uint8(x).flatten().tolist() == [0, 0, 127, 128, 191, 255, 255]
    with pytest.raises(ValueError, match="floating-point"):
        quantize_uint8(torch.zeros(1, 1, 2, 2, dtype=torch.uint8))


def test_preprocess_resizes_to_299_and_maps_uint8_to_minus_one_one(images):
    out = preprocess(images)
    assert out.shape == (2, 3, 299, 299) and out.dtype == torch.float32
    assert out.min() >= -1 and out.max() <= 1
    # Floats and their uint8 quantisation give the same network input; gray = repeated RGB.
    torch.testing.assert_close(preprocess(quantize_uint8(images)), out, rtol=0, atol=0)
    torch.testing.assert_close(preprocess(images.repeat(1, 3, 1, 1)), out, rtol=0, atol=0)
    channels_last = quantize_uint8(images).permute(0, 2, 3, 1)
    torch.testing.assert_close(preprocess(channels_last), out, rtol=0, atol=0)
    # Bilinear resizing keeps a constant image constant: u8 value v becomes 2v/255 − 1.
    const = torch.full((1, 3, 32, 32), 51, dtype=torch.uint8)
    torch.testing.assert_close(preprocess(const), torch.full((1, 3, 299, 299), 2 * 51 / 255 - 1))
    with pytest.raises(ValueError, match="1 or 3"):
        preprocess(torch.zeros(1, 2, 8, 8))


def test_missing_weight_file_names_the_file_and_where_it_is_published(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        load_inception(tmp_path / "nope.pth")
    message = str(info.value)
    assert WEIGHTS_FILENAME in message and "github.com/mseitzer/pytorch-fid/releases" in message


def test_wrong_state_dict_is_rejected_by_key_name(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"conv.weight": torch.zeros(1)}, path)
    with pytest.raises(ValueError, match="missing keys"):
        load_inception(path)
