"""Networks: the DDPM++ UNet's fidelity to the reference configuration, shapes, conditioning."""

import pytest
import torch

from koopkit_diffusion.edm import EDMPrecond, edm_loss
from koopkit_diffusion.edm.nets import MLPNet, UNet
from koopkit_diffusion.edm.nets.layers import Conv2d, PositionalEmbedding


def n_params(module):
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def test_unet_cifar10_ddpmpp_parameter_count_matches_reference():
    kwargs = dict(model_channels=128, channel_mult=(2, 2, 2), num_blocks=4, attn_resolutions=(16,))
    # EDM's SongUNet for CIFAR-10 (DDPM++, augment_dim=9): 55,733,891 parameters.
    assert n_params(UNet(32, 3, 3, augment_dim=9, **kwargs)) == 55_733_891
    # Without augmentation labels the 9 x 128 weights of map_augment are absent.
    assert n_params(UNet(32, 3, 3, **kwargs)) == 55_733_891 - 9 * 128


def test_unet_module_tree_mirrors_songunet_names():
    net = UNet(16, 3, 3, model_channels=16, channel_mult=(1, 2), num_blocks=1, label_dim=2,
               augment_dim=9, attn_resolutions=(8,))  # fmt: skip
    names = set(net.state_dict())
    for name in (
        "map_label.weight", "map_label.bias", "map_augment.weight", "map_layer0.weight",
        "enc.16x16_conv.weight", "enc.8x8_down.conv0.resample_filter", "enc.8x8_block0.qkv.weight",
        "dec.8x8_in0.proj.weight", "dec.16x16_up.skip.weight", "dec.16x16_aux_norm.weight",
        "dec.16x16_aux_conv.bias",
    ):  # fmt: skip
        assert name in names, name
    assert "map_augment.bias" not in names  # EDM's augmentation map has no bias
    assert net.state_dict()["enc.8x8_down.conv0.resample_filter"].shape == (1, 1, 2, 2)


def test_unet_augment_labels_condition_the_output_and_none_leaves_them_out():
    torch.manual_seed(0)
    net = UNet(8, 1, 1, model_channels=16, channel_mult=(1, 2), num_blocks=1, augment_dim=9)
    for p in net.parameters():
        torch.nn.init.normal_(p, std=0.1)
    x, t = torch.randn(2, 1, 8, 8), torch.zeros(2)
    zeros = torch.zeros(2, 9)
    torch.testing.assert_close(net(x, t, None, zeros), net(x, t))
    assert not torch.allclose(net(x, t, None, torch.ones(2, 9)), net(x, t))
    with pytest.raises(ValueError, match=r"augment_dim=9; expected \(2, 9\)"):
        net(x, t, None, torch.zeros(2, 4))
    with pytest.raises(ValueError, match="augment_dim=0"):
        UNet(8, 1, 1, model_channels=16, channel_mult=(1,), num_blocks=1)(x, t, None, zeros)


def test_kdm_cifar_unets_parameter_budget():
    # Three UNets (noise encoder, data encoder, decoder) of KDM's CIFAR-10 setting.
    kwargs = dict(
        model_channels=64, channel_mult=(1, 2, 2, 2), num_blocks=4, attn_resolutions=(16,)
    )
    total = n_params(UNet(32, 3, 1, **kwargs)) * 2 + n_params(UNet(32, 1, 3, **kwargs))
    assert 46.0e6 < total < 47.0e6


@pytest.mark.parametrize("resolution", [8, 28, 32, 64])
@pytest.mark.parametrize("channel_mult", [(1, 2), (1, 2, 2, 2)])
def test_unet_output_shape_at_supported_resolutions(resolution, channel_mult):
    net = UNet(
        resolution,
        2,
        3,
        model_channels=16,
        channel_mult=channel_mult,
        num_blocks=1,
        attn_resolutions=(8,),
        label_dim=4,
    )
    x = torch.randn(2, 2, resolution, resolution)
    out = net(x, torch.randn(2), torch.tensor([0, 3]))
    assert out.shape == (2, 3, resolution, resolution)
    assert torch.isfinite(out).all()
    assert net.internal_resolution % 2 ** (len(channel_mult) - 1) == 0


def test_unet_28_with_four_levels_pads_to_32():
    net = UNet(28, 1, 1, model_channels=16, channel_mult=(1, 1, 1, 1), num_blocks=1)
    assert net.internal_resolution == 32


def test_unet_conditioning_changes_output_and_none_means_unconditional():
    torch.manual_seed(0)
    net = UNet(8, 1, 1, model_channels=16, channel_mult=(1, 2), num_blocks=1, label_dim=3)
    for p in net.parameters():  # move the near-zero output layers away from zero
        torch.nn.init.normal_(p, std=0.1)
    x = torch.randn(2, 1, 8, 8)
    a = net(x, torch.zeros(2))
    assert not torch.allclose(a, net(x, torch.ones(2)))
    assert not torch.allclose(a, net(x, torch.zeros(2), torch.tensor([1, 2])))
    torch.testing.assert_close(net(x, None), net(x, None))
    one_hot = torch.nn.functional.one_hot(torch.tensor([1, 2]), 3).float()
    torch.testing.assert_close(net(x, None, torch.tensor([1, 2])), net(x, None, one_hot))


def test_unet_rejects_wrong_input_shape():
    net = UNet(8, 1, 1, model_channels=16, channel_mult=(1,), num_blocks=1)
    with pytest.raises(ValueError, match=r"\(batch, 1, 8, 8\)"):
        net(torch.randn(2, 3, 8, 8))
    with pytest.raises(ValueError, match="embedding_type"):
        UNet(8, 1, 1, embedding_type="sinusoidal")


def test_fourier_unet_trains_one_step_under_edm_loss():
    net = EDMPrecond(
        UNet(
            8, 1, 1, model_channels=16, channel_mult=(1, 2), num_blocks=1, embedding_type="fourier"
        )
    )
    loss = edm_loss(net, torch.randn(4, 1, 8, 8) * 0.5).mean()
    loss.backward()
    assert all(p.grad is not None for p in net.parameters())


def test_resampling_is_box_down_and_nearest_up():
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    down = Conv2d(1, 1, 0, down=True)(x)
    torch.testing.assert_close(down, torch.nn.functional.avg_pool2d(x, 2))
    up = Conv2d(1, 1, 0, up=True)(down)
    torch.testing.assert_close(up, down.repeat_interleave(2, 2).repeat_interleave(2, 3))


def test_positional_embedding_spans_frequencies_one_to_max():
    emb = PositionalEmbedding(8)
    torch.testing.assert_close(emb.freqs[[0, -1]], torch.tensor([1.0, 1e-4]))
    out = emb(torch.tensor([0.0, 1.0]))
    torch.testing.assert_close(out[0], torch.tensor([1.0] * 4 + [0.0] * 4))


def test_mlp_shapes_labels_and_float64():
    net = MLPNet(dim=2, hidden=32, depth=2, label_dim=5)
    x = torch.randn(7, 2)
    assert net(x, torch.randn(7), torch.arange(7) % 5).shape == (7, 2)
    assert net(x).shape == (7, 2)
    assert MLPNet(dim=3, hidden=16, depth=1, out_dim=4)(torch.randn(2, 3)).shape == (2, 4)
    assert net.double()(x.double(), torch.zeros(7)).dtype == torch.float64
    with pytest.raises(ValueError, match=r"\(batch, 2\)"):
        net(torch.randn(7, 3))
    with pytest.raises(ValueError, match=r"\[0, 5\)"):
        net(x, None, torch.full((7,), 5))
