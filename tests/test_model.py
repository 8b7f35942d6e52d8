"""Backbones + hash layer: initialisation (seeded by config.seed), h = tanh(beta z), sign codes,
every backbone on every input kind, and the offline pretrained-weights path (no network is
ever touched)."""
from __future__ import annotations

from urllib.error import URLError

import pytest
import torch
import torchvision

from hashnet_lite import model as M
from hashnet_lite.config import TrainConfig
from hashnet_lite.model import (
    HashNet,
    ImageAdapter,
    binarize,
    build_backbone,
    build_model,
    resolve_backbone,
)


def _mlp_net(d=16, bits=8, hidden=32, seed=0):
    return build_model(TrainConfig(bits=bits, backbone="mlp", hidden=hidden, seed=seed), (d,))


def _same_weights(a, b) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_hash_layer_initialisation():
    torch.manual_seed(0)
    net = HashNet(torch.nn.Identity(), feature_dim=512, bits=64)
    w, b = net.hash_layer.weight, net.hash_layer.bias
    assert w.shape == (64, 512) and b.shape == (64,)
    assert torch.equal(b, torch.zeros(64))
    # 32,768 samples of N(0, 0.01): the std estimate is within ~1% of 0.01
    assert abs(w.std().item() - 0.01) < 0.0005
    assert abs(w.mean().item()) < 0.0005
    # not PyTorch's default uniform(-1/sqrt(512), 1/sqrt(512)) init (std ~0.0255)
    assert w.abs().max().item() > 1 / 512 ** 0.5


def test_build_model_hash_layer_width_and_init():
    net = _mlp_net(bits=12, hidden=32)
    assert net.bits == 12
    assert net.hash_layer.in_features == 32 and net.hash_layer.out_features == 12
    assert torch.equal(net.hash_layer.bias, torch.zeros(12))


@pytest.mark.parametrize("backbone, shape", [("mlp", (16,)), ("cnn", (1, 8, 8))])
def test_build_model_draws_its_weights_from_config_seed(backbone, shape):
    config = TrainConfig(bits=8, backbone=backbone, hidden=16, seed=3)
    torch.manual_seed(0)
    a = build_model(config, shape)
    torch.manual_seed(1)  # the global RNG plays no part
    b = build_model(config, shape)
    assert _same_weights(a, b)
    c = build_model(TrainConfig(bits=8, backbone=backbone, hidden=16, seed=4), shape)
    assert not torch.equal(a.hash_layer.weight, c.hash_layer.weight)
    first = [p for p in a.backbone.parameters() if p.dim() > 1][0]
    assert not torch.equal(first, [p for p in c.backbone.parameters() if p.dim() > 1][0])


def test_build_model_leaves_the_callers_rng_alone():
    torch.manual_seed(1234)
    state = torch.get_rng_state()
    build_model(TrainConfig(bits=8, backbone="mlp", hidden=16), (16,))
    assert torch.equal(torch.get_rng_state(), state)
    after = torch.rand(3)
    torch.manual_seed(1234)
    assert torch.equal(after, torch.rand(3))  # the caller's next draw is as if nothing happened


def test_build_model_class_variant_has_identical_weights():
    class Tagged(HashNet):  # a lesson's variant: another forward, the same parameters
        def __init__(self, backbone, feature_dim, bits, tag):
            super().__init__(backbone, feature_dim, bits)
            self.tag = tag

    config = TrainConfig(bits=8, backbone="mlp", hidden=16, seed=5)
    plain = build_model(config, (16,))
    variant = build_model(config, (16,), model_class=Tagged, tag="x")
    assert type(variant) is Tagged and variant.tag == "x"
    assert _same_weights(plain, variant)


@pytest.mark.parametrize("beta", [0.5, 1.0, 7.14])
def test_forward_is_tanh_of_beta_z(beta):
    net = _mlp_net().eval()
    x = torch.randn(5, 16)
    z = net.project(x)
    assert z.shape == (5, 8)
    assert torch.equal(net(x, beta), torch.tanh(beta * z))


def test_codes_are_int8_sign_of_z():
    net = _mlp_net().eval()
    x = torch.randn(20, 16)
    codes = net.codes(x)
    assert codes.dtype == torch.int8 and codes.shape == (20, 8)
    assert set(codes.unique().tolist()) <= {-1, 1}
    z = net.project(x)
    assert torch.equal(codes, torch.where(z >= 0, 1, -1).to(torch.int8))
    assert not codes.requires_grad


def test_binarize_maps_zero_to_plus_one():
    z = torch.tensor([0.0, -0.0, 1e-30, -1e-30, 3.0, -2.0])
    out = binarize(z)
    assert out.dtype == torch.int8
    assert out.tolist() == [1, 1, 1, -1, 1, -1]
    assert 0 not in binarize(torch.zeros(4, 4)).tolist()


def test_dropout_is_configurable_for_mlp_and_cnn():
    for shape in [(16,), (1, 8, 8)]:
        net = build_model(TrainConfig(backbone="auto", hidden=16, dropout=0.0), shape)
        assert [m.p for m in net.modules() if isinstance(m, torch.nn.Dropout)] == [0.0]
        net = build_model(TrainConfig(backbone="auto", hidden=16), shape)
        assert [m.p for m in net.modules() if isinstance(m, torch.nn.Dropout)] == [0.2]


def test_cnn_width_sets_the_channels():
    for width, channels in [(16, [16, 32, 64]), (32, [32, 64, 128])]:
        net = build_model(TrainConfig(backbone="cnn", hidden=16, width=width), (1, 28, 28))
        convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
        assert [c.out_channels for c in convs] == channels
        assert net(torch.randn(2, 1, 28, 28), 1.0).shape == (2, 32)


def test_cnn_convs_add_layers_at_the_smallest_resolution_first():
    # The resolution each conv sees, for a 28x28 input: 28 (w), 14 (2w), 7 (4w).
    expected = {3: [(16, 28), (32, 14), (64, 7)],
                4: [(16, 28), (32, 14), (64, 7), (64, 7)],
                5: [(16, 28), (32, 14), (32, 14), (64, 7), (64, 7)],
                6: [(16, 28), (16, 28), (32, 14), (32, 14), (64, 7), (64, 7)]}
    for convs, layers in expected.items():
        net = build_model(TrainConfig(backbone="cnn", hidden=16, convs=convs), (1, 28, 28))
        seen = []
        hooks = [m.register_forward_hook(lambda m, i, o: seen.append((o.shape[1], o.shape[-1])))
                 for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
        assert net(torch.randn(2, 1, 28, 28), 1.0).shape == (2, 32)
        for h in hooks:
            h.remove()
        assert seen == layers, convs


def test_cnn_with_3_convs_is_one_conv_per_resolution_with_fixed_names_and_values():
    # The committed results and checkpoints use convs=3: at 3 the backbone must be exactly the
    # one-conv-per-resolution network written out below, with the same parameter names and the
    # same values from the same seed, so that those checkpoints load and those rows reproduce.
    from torch import nn

    def block(c_in, c_out):
        return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]

    torch.manual_seed(4)
    expected = nn.Module()
    expected.features = nn.Sequential(*block(1, 16), nn.MaxPool2d(2, ceil_mode=True), *block(16, 32),
                                      nn.MaxPool2d(2, ceil_mode=True), *block(32, 64), nn.AdaptiveAvgPool2d(2))
    expected.head = nn.Sequential(nn.Flatten(), nn.Linear(256, 24), nn.ReLU(), nn.Dropout(0.2))
    torch.manual_seed(4)
    net = M.SmallCNN(1, hidden=24)  # the default is 3
    want, got = expected.state_dict(), net.state_dict()
    assert list(got) == list(want)
    assert all(torch.equal(got[k], want[k]) for k in want)
    x = torch.randn(3, 1, 28, 28)
    expected.eval(), net.eval()
    assert torch.equal(net(x), expected.head(expected.features(x)))  # pools and order too


@pytest.mark.parametrize("convs", [2, 7, 4.0])
def test_cnn_convs_outside_3_to_6_are_refused(convs):
    with pytest.raises(ValueError, match=rf"convs={convs!r} is invalid: expected an integer from 3 to 6"):
        build_backbone("cnn", (1, 28, 28), convs=convs)


def _forward_backward(net, shape, batch=2):
    net.train()
    x = torch.randn(batch, *shape)
    h = net(x, 1.0)
    assert h.shape == (batch, net.bits)
    assert torch.isfinite(h).all() and (h.abs() < 1).all()
    (h * torch.randn_like(h)).sum().backward()
    grads = [p.grad for p in net.backbone.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads), "no gradient reaches the backbone"
    assert net.hash_layer.weight.grad.abs().sum() > 0
    net.eval()
    codes = net.codes(x)
    assert codes.dtype == torch.int8 and codes.shape == (batch, net.bits)


@pytest.mark.parametrize("backbone,shape", [
    ("mlp", (16,)), ("mlp", (1, 8, 8)),  # mlp flattens images
    ("cnn", (1, 8, 8)), ("cnn", (1, 28, 28)), ("cnn", (3, 32, 32)),
    ("auto", (16,)), ("auto", (1, 28, 28)),
])
def test_small_backbones_forward_backward(backbone, shape):
    torch.manual_seed(0)  # the inputs
    _forward_backward(build_model(TrainConfig(bits=8, backbone=backbone, hidden=32), shape), shape, batch=4)


@pytest.mark.slow
@pytest.mark.parametrize("backbone", ["alexnet", "resnet18", "vgg16", "resnet50"])
def test_torchvision_backbones_forward_backward(backbone):
    """Grey 8x8 images (upsampled, repeated to RGB) and RGB 32x32 ones, pretrained=False.

    The model is built once for grey images (building vgg16 alone takes seconds); the RGB
    case reuses its torchvision network behind the 3-channel adapter build_backbone makes
    (build_backbone's 3-channel path differs only in that adapter, checked below).
    """
    torch.manual_seed(0)
    net = build_model(TrainConfig(bits=8, backbone=backbone, pretrained=False), (1, 8, 8))
    expected_width = {"alexnet": 4096, "vgg16": 4096, "resnet18": 512, "resnet50": 2048}[backbone]
    assert net.hash_layer.in_features == expected_width
    adapter = net.backbone[0]
    assert isinstance(adapter, ImageAdapter) and adapter.normalize is False and adapter.repeat == 3
    assert adapter.min_side == M._MIN_SIDE[backbone]
    _forward_backward(net, (1, 8, 8), batch=2)
    net.zero_grad(set_to_none=True)
    net.backbone[0] = ImageAdapter(3, M._MIN_SIDE[backbone], normalize=False)
    _forward_backward(net, (3, 32, 32), batch=2)


def test_torchvision_backbone_rgb_path():
    backbone, width = build_backbone("alexnet", (3, 32, 32))
    assert width == 4096
    assert backbone[0].repeat == 1 and backbone[0].min_side == 64 and backbone[0].normalize is False
    with torch.no_grad():
        assert backbone.eval()(torch.rand(2, 3, 32, 32)).shape == (2, 4096)


def test_image_adapter_grey_to_rgb_upsampling_and_normalisation():
    x = torch.rand(2, 1, 8, 8)
    x_before = x.clone()
    out = ImageAdapter(1, 64, normalize=False)(x)
    assert out.shape == (2, 3, 64, 64)
    assert torch.equal(out[:, 0], out[:, 1]) and torch.equal(out[:, 1], out[:, 2])
    big = torch.rand(2, 3, 70, 40)
    assert ImageAdapter(3, 32, normalize=False)(big).shape == (2, 3, 70, 40)  # large enough: unchanged
    assert torch.equal(ImageAdapter(3, 32, normalize=False)(big), big)
    normed = ImageAdapter(3, 32, normalize=True)(big)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    assert torch.allclose(normed, (big - mean) / std)
    assert torch.equal(x, x_before)  # input untouched


def test_resolve_backbone():
    assert resolve_backbone("auto", (512,)) == "mlp"
    assert resolve_backbone("auto", (1, 28, 28)) == "cnn"
    assert resolve_backbone("auto", (3, 32, 32)) == "cnn"
    for name in ["mlp", "cnn", "alexnet", "resnet50"]:
        assert resolve_backbone(name, (3, 32, 32)) == name


def test_backbone_errors():
    with pytest.raises(ValueError, match="backbone='lenet' is unknown"):
        build_backbone("lenet", (3, 32, 32))
    with pytest.raises(ValueError, match="backbone='lenet' is unknown"):
        build_backbone("lenet", (64,))
    with pytest.raises(ValueError, match=r"backbone='cnn' needs images \(C, H, W\).*\(64,\)"):
        build_backbone("cnn", (64,))
    with pytest.raises(ValueError, match="backbone='resnet18' needs images"):
        build_backbone("resnet18", (64,))
    with pytest.raises(ValueError, match="pretrained=True.*not 'mlp'"):
        build_backbone("mlp", (64,), pretrained=True)
    with pytest.raises(ValueError, match="pretrained=True.*not 'cnn'"):
        build_backbone("cnn", (1, 8, 8), pretrained=True)
    with pytest.raises(ValueError, match="needs 1- or 3-channel images, got 2"):
        build_backbone("alexnet", (2, 32, 32))
    with pytest.raises(ValueError, match="bits=0"):
        HashNet(torch.nn.Identity(), 4, 0)


@pytest.fixture
def offline_hub(tmp_path, monkeypatch):
    """torch.hub points into tmp_path and every download raises URLError."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)  # undo any earlier torch.hub.set_dir
    calls = []

    def offline(url, *args, **kwargs):
        calls.append(url)
        raise URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    checkpoints = tmp_path / "torch" / "hub" / "checkpoints"
    assert torch.hub.get_dir() == str(tmp_path / "torch" / "hub")
    return checkpoints, calls


def _weights_file(name):
    return torchvision.models.get_model_weights(name).DEFAULT.url.rsplit("/", 1)[-1]


@pytest.mark.parametrize("name", ["resnet18", "alexnet"])
def test_pretrained_offline_names_the_file_and_the_folder(offline_hub, name):
    checkpoints, calls = offline_hub
    filename = _weights_file(name)
    assert filename.endswith(".pth")
    with pytest.raises(RuntimeError) as info:
        build_model(TrainConfig(backbone=name, pretrained=True), (3, 32, 32))
    message = str(info.value)
    assert filename in message
    assert str(checkpoints / filename) in message
    assert "pretrained=False" in message and "URLError" in message
    assert isinstance(info.value.__cause__, URLError)
    assert len(calls) == 1 and calls[0].endswith(filename)
    assert not (checkpoints / filename).exists()


def test_pretrained_weights_already_in_the_folder_load_without_download(offline_hub):
    checkpoints, calls = offline_hub
    torch.manual_seed(123)
    reference = torchvision.models.resnet18().state_dict()
    checkpoints.mkdir(parents=True)
    torch.save(reference, checkpoints / _weights_file("resnet18"))
    backbone, width = build_backbone("resnet18", (3, 32, 32), pretrained=True)
    assert calls == []  # no download was attempted
    assert width == 512
    adapter, net = backbone[0], backbone[1]
    assert adapter.normalize is True  # ImageNet normalisation comes with pretrained weights
    loaded = net.state_dict()
    for key in ["conv1.weight", "layer4.1.bn2.running_var", "layer2.0.downsample.0.weight"]:
        assert torch.equal(loaded[key], reference[key])
    assert "fc.weight" not in loaded  # the classifier was replaced by the hash layer's input
    with torch.no_grad():
        assert backbone(torch.rand(2, 3, 32, 32)).shape == (2, 512)
