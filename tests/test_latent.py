"""Chapter 09's tools on the shipped generators and classifier: truncated noise, inversion with a
known answer, edits by the classifier's gradient, directions, image files and the panel."""

from __future__ import annotations

import io
import math
from datetime import datetime, timezone
from types import SimpleNamespace

import pytest
import torch
from PIL import Image

from gan_helpers.classifier import load_classifier
from gan_helpers.images import on_dark_background, read_image
from gan_helpers.latent import edit, invert, latent_direction, pixel_error, truncated_noise
from gan_helpers.latent_views import InversionPanel, uploaded_file
from gan_helpers.sampling import generate_from
from gan_helpers.weights import load_pretrained


@pytest.fixture(scope="module")
def dcgan():
    return load_pretrained("dcgan").requires_grad_(False)


@pytest.fixture(scope="module")
def classifier():
    return load_classifier().requires_grad_(False)


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


# --- Truncation.


@pytest.mark.parametrize("psi", [0.3, 1.0, 2.5])
def test_truncated_noise_stays_inside_and_keeps_the_normal_shape_there(psi):
    noise = truncated_noise(50_000, 20, psi, seed=3)
    assert noise.abs().max() <= psi
    normal = torch.distributions.Normal(0.0, 1.0)
    mass = normal.cdf(torch.tensor(psi)) - normal.cdf(torch.tensor(-psi))
    share = torch.histc(noise, bins=10, min=-psi, max=psi) / noise.numel()
    edges = torch.linspace(-psi, psi, 11)
    expected = (normal.cdf(edges[1:]) - normal.cdf(edges[:-1])) / mass  # each bin's share of the cut density
    assert ((share - expected).abs() / expected).max() < 0.05  # a rare outer bin holds about 1,600 draws


def test_no_truncation_is_the_training_noise_and_bad_psi_is_refused():
    assert torch.equal(
        truncated_noise(5, 3, math.inf, seed=4), torch.randn(5, 3, generator=torch.Generator().manual_seed(4))
    )
    assert torch.equal(truncated_noise(5, 3, 1.0, seed=4), truncated_noise(5, 3, 1.0, seed=4))
    for psi in (0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="must be above 0"):
            truncated_noise(5, 3, psi)


# --- Inversion.


def test_inverting_generated_images_recovers_them_and_leaves_the_weights(dcgan):
    known = torch.randn(4, 100, generator=torch.Generator().manual_seed(7))
    drawn = generate_from(dcgan, known)
    before = {name: value.clone() for name, value in dcgan.state_dict().items()}
    found = invert(dcgan, drawn, starts=4, seed=1)  # the command's 500 steps
    assert found.error.mean() < 0.1  # pixels are in [-1, 1]: a tenth of the range, root-mean-square
    assert torch.allclose(pixel_error(generate_from(dcgan, found.z), drawn), found.error, atol=1e-4)
    assert all(torch.equal(before[name], value) for name, value in dcgan.state_dict().items())
    assert all(p.grad is None for p in dcgan.parameters())
    near = invert(dcgan, drawn, starts=1, start=known + 0.25 * torch.randn(known.shape))
    assert near.error.mean() < found.error.mean()  # a start near the answer ends nearer


def test_the_conditional_generator_is_inverted_with_its_class():
    cgan = load_pretrained("cgan").requires_grad_(False)
    known = torch.randn(2, 100, generator=torch.Generator().manual_seed(8))
    drawn = generate_from(cgan, known, torch.tensor([1, 7]))  # a trouser and a sneaker
    found = invert(cgan, drawn, starts=1, steps=200, seed=0)
    assert found.labels.tolist() == [1, 7]
    assert found.error.mean() < 0.15
    given = invert(cgan, drawn, starts=1, steps=200, seed=0, labels=torch.tensor([1, 7]))
    assert given.labels.tolist() == [1, 7] and given.error.mean() < 0.15


def test_inversion_refuses_bad_targets_and_starts(dcgan):
    with pytest.raises(ValueError, match=r"shape \[N, 1, 28, 28\]"):
        invert(dcgan, torch.zeros(2, 28, 28))
    with pytest.raises(ValueError, match="starts = 0"):
        invert(dcgan, torch.zeros(1, 1, 28, 28), starts=0)
    with pytest.raises(ValueError, match="this generator is not conditional"):
        invert(dcgan, torch.zeros(1, 1, 28, 28), labels=torch.tensor([3]))
    with pytest.raises(ValueError, match=r"need one per target \(2\), got 1"):
        invert(load_pretrained("cgan"), torch.zeros(2, 1, 28, 28), labels=torch.tensor([3]))
    with pytest.raises(ValueError, match=r"start must have shape \(2, 100\)"):
        invert(dcgan, torch.zeros(1, 1, 28, 28), starts=2, start=torch.zeros(1, 100))


# --- Editing and directions.


def test_an_edit_raises_the_target_logit_at_every_step(dcgan, classifier):
    z = torch.randn(3, 100, generator=torch.Generator().manual_seed(3))
    for start in z:
        path = edit(dcgan, classifier, start, target=4, steps=8)  # towards coat
        target_logit = path.logits[:, 4]
        assert (target_logit[1:] > target_logit[:-1]).all(), target_logit
        assert path.z.shape == (9, 100) and torch.equal(path.z[0], start)


def test_the_penalty_moves_the_other_logits_less(dcgan, classifier):
    z = torch.randn(4, 100, generator=torch.Generator().manual_seed(5))
    others = torch.arange(10) != 9

    def moved(keep_others: float) -> float:
        paths = [edit(dcgan, classifier, start, target=9, steps=8, keep_others=keep_others) for start in z]
        return sum((p.logits[-1, others] - p.logits[0, others]).abs().mean() for p in paths) / len(paths)

    assert moved(0.2) < moved(0.0)


def test_a_direction_is_the_difference_of_the_group_means():
    z = torch.tensor([[1.0, 0.0], [3.0, 0.0], [0.0, 2.0]])
    direction = latent_direction(z, torch.tensor([True, True, False]), torch.tensor([False, False, True]))
    assert torch.equal(direction, torch.tensor([2.0, -2.0]))
    with pytest.raises(ValueError, match="at least one sample"):
        latent_direction(z, torch.zeros(3, dtype=torch.bool), torch.ones(3, dtype=torch.bool))


# --- Image files and the panel.


def test_an_image_file_becomes_a_fashion_mnist_image(tmp_path):
    photo = Image.new("RGB", (120, 60), "white")  # a dark garment on a light, wide photo
    photo.paste((30, 30, 30), (40, 10, 80, 50))
    image = read_image(png(photo), "photo.png")
    assert image.shape == (1, 1, 28, 28) and image.min() >= -1 and image.max() <= 1
    assert image[0, 0, 0, 0] == 1.0  # padded with the border's own white, not black
    dark, inverted = on_dark_background(image)
    assert inverted and dark[0, 0, 14, 14] > 0.5 and dark[0, 0, 0, 0] == -1.0
    path = tmp_path / "photo.png"
    path.write_bytes(png(photo))
    assert torch.equal(read_image(path), image)
    assert on_dark_background(dark)[1] is False


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "empty.png is empty"),
        (b"not an image", "is not an image file"),
        ("cut", "cannot be read as an image"),
    ],
)
def test_a_bad_image_file_is_one_line(content, message):
    if content == "cut":
        content = png(Image.new("L", (64, 64), 128))[:60]
    with pytest.raises(ValueError, match=message) as error:
        read_image(content, "empty.png")
    assert "\n" not in str(error.value) and "BytesIO" not in str(error.value)
    with pytest.raises(ValueError, match="no image file at"):
        read_image("/nonexistent/photo.png")


def test_uploads_are_read_in_both_widget_versions():
    content = png(Image.new("L", (28, 28), 0))
    version_7 = SimpleNamespace(value={"shirt.png": {"metadata": {"name": "shirt.png"}, "content": content}})
    version_8 = SimpleNamespace(value=({"name": "shirt.png", "content": memoryview(content)},))
    assert uploaded_file(version_7) == uploaded_file(version_8) == ("shirt.png", content)
    assert (
        uploaded_file(SimpleNamespace(value={})) is None and uploaded_file(SimpleNamespace(value=())) is None
    )


def test_the_panel_inverts_a_test_image_edits_it_and_keeps_it_after_a_bad_file(dcgan, classifier):
    test_images = generate_from(dcgan, torch.randn(3, 100, generator=torch.Generator().manual_seed(1)))
    panel = InversionPanel(dcgan, classifier, test_images, dcgan.class_names, steps=30, starts=1)
    panel.index.value = 2
    panel.run_inversion()
    assert panel.inversion.images.shape == (1, 1, 28, 28) and "pixel error" in panel.message.value
    assert torch.equal(panel.target, test_images[2:3])
    panel.towards.value, panel.strength.value = 9, 3
    assert len(panel.path.z) == 4
    found = panel.inversion
    panel.source.value = "my file"
    panel.run_inversion()
    assert panel.message.value.startswith("<b>error:</b> no file uploaded yet") and panel.inversion is found
    light = png(Image.new("L", (40, 60), 230))
    panel.upload.value = ({"name": "light.png", "type": "image/png", "size": len(light), "content": light,
                           "last_modified": datetime.now(timezone.utc)},)  # fmt: skip
    panel.run_inversion()
    assert panel.message.value.startswith("pixel error") and "colours inverted" in panel.message.value
    inverted_gray = torch.tensor(1 - 230 / 127.5)  # gray 230, scaled to [-1, 1], then inverted
    assert panel.inversion is not found and torch.isclose(panel.target[0, 0, 0, 0], inverted_gray)
