"""Chapter 09's panel: pick a test image or upload a file, invert it into a generator's latent
space, then slide an edit towards a class and watch the image and the classifier's verdict."""

from __future__ import annotations

from collections.abc import Sequence

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch
from IPython.display import display

from gan_helpers.display import show_grid
from gan_helpers.images import on_dark_background, read_image
from gan_helpers.latent import edit, invert

WIDE = {"style": {"description_width": "120px"}, "layout": widgets.Layout(width="420px")}


def uploaded_file(upload: widgets.FileUpload) -> tuple[str, bytes] | None:
    """The name and bytes of the file in a FileUpload, in ipywidgets 8 (a tuple of dicts) and 7
    (a dict by file name, Colab's version); None before any upload."""
    value = upload.value
    if not value:
        return None
    if isinstance(value, dict):  # ipywidgets 7: {name: {"metadata": ..., "content": bytes}}
        name, item = next(iter(value.items()))
        return name, bytes(item["content"])
    item = value[0]  # ipywidgets 8: ({"name": ..., "content": memoryview, ...},)
    return item["name"], bytes(item["content"])


class InversionPanel:
    """The widgets, and what they found last: ``target``, ``inversion`` and ``path`` (the edit)."""

    def __init__(
        self, generator, classifier, test_images: torch.Tensor, class_names: Sequence[str],
        features=None, steps: int = 500, starts: int = 4, invert=invert, edit=edit,
    ) -> None:  # fmt: skip
        """``invert`` and ``edit`` default to the package's; a chapter passes its own cells' versions."""
        self.generator, self.classifier, self.features = generator, classifier, features
        self.invert, self.edit = invert, edit
        self.test_images, self.class_names = test_images, list(class_names)
        self.settings = {"steps": steps, "starts": starts}
        self.target = self.inversion = self.path = None
        self.source = widgets.ToggleButtons(options=["test image", "my file"], description="image", **WIDE)
        self.index = widgets.BoundedIntText(
            0, min=0, max=len(test_images) - 1, description="test index", **WIDE
        )
        self.upload = widgets.FileUpload(accept="image/*", multiple=False, description="upload")
        self.invert_button = widgets.Button(description="invert", button_style="primary")
        classes = [(name, number) for number, name in enumerate(self.class_names)]
        self.towards = widgets.Dropdown(options=classes, description="edit towards", **WIDE)
        self.strength = widgets.IntSlider(0, min=0, max=16, description="edit steps", **WIDE)
        self.message = widgets.HTML()
        self.output = widgets.Output()
        self.invert_button.on_click(lambda _: self.run_inversion())
        for control in (self.strength, self.towards):
            control.observe(lambda _: self.show_edit(), names="value")
        self.widget = widgets.VBox([self.source, self.index, self.upload, self.invert_button,
                                    self.towards, self.strength, self.message, self.output])  # fmt: skip
        self.widget.add_class("inversion-panel")  # for the browser tests to find it

    def _ipython_display_(self) -> None:
        display(self.widget)

    def chosen_image(self) -> tuple[torch.Tensor, str]:
        """The test image at the index, or the uploaded file read as a Fashion-MNIST image, and a
        note of what was done to it."""
        if self.source.value == "test image":
            return self.test_images[self.index.value : self.index.value + 1], ""
        found = uploaded_file(self.upload)
        if found is None:
            raise ValueError("no file uploaded yet: press 'upload' and choose an image file")
        image, inverted = on_dark_background(read_image(found[1], found[0]))
        return image, " (colours inverted: Fashion-MNIST draws light garments on black)" if inverted else ""

    def run_inversion(self) -> None:
        """Invert the chosen image; a bad file is one line under the controls, and nothing changes."""
        self.message.value = ""
        try:
            self.target, note = self.chosen_image()
        except ValueError as error:
            self.message.value = f"<b>error:</b> {error}"
            return
        self.inversion = self.invert(self.generator, self.target, self.features, seed=0, **self.settings)
        self.show_edit()
        self.message.value = f"pixel error {self.inversion.error.item():.3f}{note}"  # last: all is drawn

    def show_edit(self) -> None:
        """The target, its reconstruction and the edit so far, with the classifier's verdict."""
        if self.inversion is None:
            return
        label = None if self.inversion.labels is None else int(self.inversion.labels[0])
        self.path = self.edit(self.generator, self.classifier, self.inversion.z[0], self.towards.value,
                         steps=self.strength.value, label=label)  # fmt: skip
        probabilities = self.path.logits[-1].softmax(dim=0)
        verdict = self.class_names[int(probabilities.argmax())]
        self.output.clear_output(wait=True)
        with self.output:
            _, ax = plt.subplots(figsize=(6, 2.2))
            pictures = torch.cat([self.target, self.inversion.images, self.path.images[-1:]])
            show_grid(pictures, nrow=3, ax=ax, title=f"image | inverted | edited: {verdict} "
                      f"({probabilities.max():.0%})")  # fmt: skip
            plt.show()
