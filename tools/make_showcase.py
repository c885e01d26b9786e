"""Write generated_samples/showcase_<model>.png: 100 samples (noise seed 0) of each shipped
generator, under a caption naming the model and the epoch its weights are from."""

from __future__ import annotations

from gan_helpers.config import SAMPLES_DIR
from gan_helpers.images import save_grid
from gan_helpers.kinds import MODEL_KINDS
from gan_helpers.sampling import generate
from gan_helpers.weights import load_pretrained

if __name__ == "__main__":
    for kind in MODEL_KINDS:
        generator = load_pretrained(kind)
        caption = f"{kind}, epoch {generator.epoch}"
        images = generate(generator, 100, seed=0)
        path = save_grid(images, SAMPLES_DIR / f"showcase_{kind}.png", caption=caption)
        print(f"wrote {path}")
