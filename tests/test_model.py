import pytest

torch = pytest.importorskip("torch")

from sr_scale.core.model import RDN, RDNConfig, count_parameters, variant  # noqa: E402


def test_output_is_scale_times_input_for_any_size():
    model = RDN(variant("tiny")).eval()
    with torch.no_grad():
        out = model(torch.rand(2, 3, 13, 27))
    assert out.shape == (2, 3, 26, 54)


def test_untrained_model_starts_near_nearest_neighbour_enlargement():
    # The residual over a nearest-neighbour enlargement keeps early outputs in range.
    torch.manual_seed(0)
    model = RDN(variant("tiny")).eval()
    lr = torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        out = model(lr)
    nearest = torch.nn.functional.interpolate(lr, scale_factor=2, mode="nearest")
    assert (out - nearest).abs().mean() < 0.5


def test_receptive_radius_counts_every_3x3_conv():
    assert RDNConfig(C=3, D=4).receptive_radius == 2 + 12 + 1 + 1


def test_default_variant_is_small_enough_for_cpu():
    assert count_parameters(RDN(variant("small"))) < 400_000


def test_unknown_variant_lists_the_valid_names():
    with pytest.raises(ValueError, match="small"):
        variant("huge")


def test_reparam_folds_into_the_plain_network():
    from sr_scale.core.model import fuse_reparam

    torch.manual_seed(1)
    model = RDN(variant("tiny"), reparam=True)
    with torch.no_grad():  # non-zero side branches, so that the folding is really exercised
        for p in model.parameters():
            p.normal_(0, 0.05)
    x = torch.rand(1, 3, 19, 23)
    plain = fuse_reparam(model)
    assert type(plain.sfe1) is torch.nn.Conv2d
    assert count_parameters(plain) == count_parameters(RDN(variant("tiny")))
    with torch.no_grad():
        assert (model(x) - plain(x)).abs().max() < 1e-5


def test_arch_from_numbers_and_typos_named():
    assert variant({"C": 6, "D": 20, "G": 64, "G0": 64}) == RDNConfig(C=6, D=20, G=64, G0=64)
    with pytest.raises(ValueError, match="valid keys: C, D, G, G0, scale"):
        variant({"C": 6, "DD": 20})
    with pytest.raises(ValueError, match="positive integers"):
        variant({"C": 0})


def test_deepen_adds_identity_blocks_that_keep_the_function():
    from sr_scale.core.model import deepen

    torch.manual_seed(2)
    model = RDN(variant("tiny")).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.1)
    deeper = deepen(model, 5).eval()
    assert deeper.config.D == 5 and len(deeper.blocks) == 5
    assert deeper.config.receptive_radius > model.config.receptive_radius
    x = torch.rand(1, 3, 15, 17)
    with torch.no_grad():
        assert (deeper(x) - model(x)).abs().max() < 1e-6
    with pytest.raises(ValueError, match="fewer"):
        deepen(model, 1)
