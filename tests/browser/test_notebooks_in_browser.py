"""What a learner sees in JupyterLab: notebooks run with "Run All Cells" in headless Chromium.

Screenshots land in ``screenshots/`` (git-ignored) so a person can look at them.
"""

from __future__ import annotations

import re

import pytest

from gan_helpers.data import project_dir

pytestmark = pytest.mark.browser

SCREENSHOTS = project_dir() / "screenshots"
PROMPTS = ".jp-Notebook .jp-CodeCell .jp-InputPrompt"
OUTPUT = ".jp-Notebook .jp-OutputArea-output"
PANEL_LABELS = {"epochs", "batch size", "generator lr", "discriminator lr", "Adam β₁", "latent size",
                "share of data", "seed"}  # fmt: skip
KERNEL_IDLE = ".jp-Notebook-ExecutionIndicator[data-status='idle']"
# Started: some cell waits ("[*]") or has run ("[3]"); after "Clear All Outputs" every prompt is "[ ]".
STARTED = f"""() => [...document.querySelectorAll('{PROMPTS}')]
  .some(p => /\\[(\\*|\\d+)\\]/.test(p.textContent))"""
# Finished: the kernel is idle and no cell waits ("[*]"); every cell has a number unless one failed.
FINISHED = """() => {
  const prompts = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt')];
  const busy = document.querySelector('.jp-Notebook-ExecutionIndicator-tooltip')?.textContent || '';
  return prompts.length > 0 && !busy.includes('Busy') && prompts.every(p => !p.textContent.includes('*'))
    && (prompts.every(p => /\\[\\d+\\]/.test(p.textContent))
        || document.querySelector('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'));
}"""


@pytest.fixture
def page(browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    yield page
    page.close()


def run_all_cells(page, lab, name: str, timeout_s: float = 300) -> None:
    """Open ``name``, wait for its kernel, clear the stored outputs and choose Run > Run All Cells."""
    page.goto(lab.notebook_url(name))
    page.wait_for_function(
        "() => /Python/.test(document.querySelector('.jp-KernelName')?.textContent || '')", timeout=90_000
    )
    page.wait_for_selector(KERNEL_IDLE, state="attached", timeout=90_000)  # started, not connecting
    _menu(page, "Edit", "editmenu:clear-all")
    for attempt in (1, 2):  # on a loaded machine a menu click can go unseen: then choose it again
        _menu(page, "Run", "runmenu:run-all")
        try:
            page.wait_for_function(STARTED, timeout=30_000, polling=250)
            break
        except Exception as error:  # Playwright's TimeoutError
            if type(error).__name__ != "TimeoutError" or attempt == 2:
                raise
            screenshot(page, page.locator(".jp-Notebook"), f"{name.removesuffix('.ipynb')}-not-started")
    try:
        page.wait_for_function(FINISHED, timeout=timeout_s * 1000, polling=500)
    except Exception as error:  # Playwright's TimeoutError; Playwright itself may be absent here
        if type(error).__name__ != "TimeoutError":
            raise
        screenshot(page, page.locator(".jp-Notebook"), f"{name.removesuffix('.ipynb')}-stuck")
        status = page.locator(".jp-Notebook-ExecutionIndicator-tooltip").all_inner_texts()
        prompts = page.locator(PROMPTS).all_inner_texts()
        pytest.fail(f"{name} did not finish in {timeout_s:.0f} s: prompts {prompts}, kernel {status}")
    errors = [e.text_content() for e in page.query_selector_all(f"{OUTPUT}[data-mime-type*='stderr']")]
    assert not errors, f"{name} shows error output:\n" + "\n---\n".join(errors)
    prompts = [p.text_content() for p in page.query_selector_all(PROMPTS)]
    assert all(re.fullmatch(r"\[\d+\]:", p) for p in prompts), f"cells left unexecuted in {name}: {prompts}"


def _menu(page, menu: str, command: str) -> None:
    page.click(f".lm-MenuBar-itemLabel:text-is('{menu}')")
    page.click(f".lm-Menu-item[data-command='{command}']")


def rendered_images(page) -> int:
    """Inline images that the browser actually decoded (naturalWidth > 0)."""
    return page.evaluate(
        f"() => [...document.querySelectorAll('{OUTPUT} img')].filter(i => i.naturalWidth > 0).length"
    )


def type_into(page, readout, text: str) -> None:
    """Type ``text`` into a slider's readout, as a learner does, and press Enter."""
    readout.click()
    page.keyboard.press("Control+A")
    page.keyboard.type(text)
    page.keyboard.press("Enter")


# On screen and painted: inside the viewport, an image decoded, and two frames drawn since.
# JupyterLab draws only the cells near the screen, so right after a scroll the page can be blank.
PAINTED = """async e => {
  const box = e.getBoundingClientRect();
  const onScreen = box.height > 0 && box.top < innerHeight && box.bottom > 0;
  const decoded = e.tagName !== 'IMG' || (e.complete && e.naturalWidth > 0);
  if (!onScreen || !decoded) return false;
  await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  return true;
}"""


def screenshot(page, element, name: str) -> None:
    """Save the page with ``element`` on screen: what a learner sees there."""
    SCREENSHOTS.mkdir(exist_ok=True)
    element.scroll_into_view_if_needed()
    page.wait_for_function(PAINTED, arg=element.element_handle(), timeout=30_000)
    page.screenshot(path=SCREENSHOTS / f"{name}.png")


def run_in_new_cell(page, code: str) -> str:
    """Append a code cell below the last one, run it and return its text output once it shows."""
    page.click(".jp-Notebook .jp-Cell:last-child .jp-InputPrompt")
    page.keyboard.press("Escape")
    for key in ("b", "y", "Enter"):  # command mode: insert below, make it code, start editing
        page.keyboard.press(key)
    page.keyboard.type(code)
    page.keyboard.press("Control+Enter")  # run and stay on this cell
    output = page.locator(".jp-Notebook .jp-CodeCell").last.locator(".jp-OutputArea-output").first
    output.wait_for(timeout=60_000)
    has_text = "e => e.textContent.trim().length > 0"
    page.wait_for_function(has_text, arg=output.element_handle(), timeout=60_000)
    return output.inner_text()


def test_data_loading_notebook_shows_its_figures(page, jupyter_lab):
    run_all_cells(page, jupyter_lab, "01_data_loading.ipynb")
    assert rendered_images(page) >= 3  # class grid, histogram, a batch
    screenshot(page, page.locator(f"{OUTPUT} img").first, "01_data_loading-class-grid")
    assert "round trip exact: True" in page.text_content(".jp-Notebook")


def test_dcgan_notebook_panel_progress_and_samples(page, jupyter_lab):
    run_all_cells(page, jupyter_lab, "03_dcgan.ipynb")
    panel = page.locator(f"{OUTPUT} .widget-interact")
    panel.scroll_into_view_if_needed()  # JupyterLab's default windowing draws only what is near the screen
    labels = {label.strip() for label in panel.locator(".widget-label").all_text_contents()}
    assert labels >= PANEL_LABELS, f"panel labels {labels} lack {PANEL_LABELS - labels}"
    screenshot(page, panel, "03_dcgan-panel")

    # Untouched, the panel trains exactly the settings the cell above it shows, not the sliders' grid
    exact = run_in_new_cell(page, "print(panel.result.lr_g, panel.result.lr_d)").strip()
    assert exact == "0.0004 0.0002", exact
    rate = panel.locator(".widget-slider", has_text="generator lr").locator(".widget-readout")
    type_into(page, rate, "0.0005")
    page.wait_for_selector(f"{OUTPUT} :text('lr G 0.0005')", timeout=30_000)
    assert run_in_new_cell(page, "print(panel.result.lr_g)").strip() == "0.0005"  # typed is trained

    type_into(page, panel.locator(".widget-slider", has_text="epochs").locator(".widget-readout"), "3")
    page.wait_for_selector(f"{OUTPUT} :text('dcgan: 3 epochs')", timeout=30_000)
    assert run_in_new_cell(page, "print('epochs in the config:', panel.result.num_epochs)").strip() == (
        "epochs in the config: 3"
    )

    progress = page.locator(f"{OUTPUT} .widget-hprogress").first
    progress.scroll_into_view_if_needed()
    assert progress.is_visible()
    bar_text = progress.locator("xpath=..").text_content().replace("\u2007", " ")  # tqdm's figure spaces
    assert "100%" in bar_text and "epoch 1/1" in bar_text, bar_text
    screenshot(page, progress, "03_dcgan-progress")

    assert rendered_images(page) >= 3  # live view, samples, shipped generator
    screenshot(page, page.locator(f"{OUTPUT} img").last, "03_dcgan-samples")


def test_wgan_gp_live_view_plots_the_estimate_and_a_refused_value_is_one_line(page, jupyter_lab):
    run_all_cells(page, jupyter_lab, "04_wgan_gp.ipynb")
    code = "from gan_helpers.display import figure\nprint([a.get_title() for a in figure(run).axes])"
    titles = run_in_new_cell(page, code)
    assert "critic: Wasserstein estimate" in titles and "losses" not in titles  # what the text says to watch

    panel = page.locator(f"{OUTPUT} .widget-interact").first
    panel.scroll_into_view_if_needed()
    seed = panel.locator(".widget-text", has_text="seed").locator("input")
    seed.fill("-1")
    seed.press("Enter")
    page.wait_for_selector(f"{OUTPUT} :text('refused: TrainConfig.seed = -1')", timeout=30_000)
    panel_text = panel.inner_text()
    assert "Traceback" not in panel_text and panel_text.count("refused:") == 1
    screenshot(page, panel, "04_wgan_gp-refused-value")
    refused = run_in_new_cell(page, "new_run(panel.result)")
    assert "the panel refused a value: TrainConfig.seed = -1" in refused


def test_stabilizers_panel_switches_each_stabilizer_and_the_figures_show(page, jupyter_lab):
    run_all_cells(page, jupyter_lab, "08_stabilizing_gans.ipynb")
    panel = page.locator(f"{OUTPUT} .widget-interact").first
    panel.scroll_into_view_if_needed()
    labels = {label.strip() for label in panel.locator(".widget-label").all_text_contents()}
    assert {"loss", "R1 weight γ"} <= labels, labels
    screenshot(page, panel, "08_stabilizing_gans-panel")
    # untouched, it holds the settings the cell above it shows
    page.wait_for_selector(f"{OUTPUT} :text('hinge loss, spectral norm, R1 γ 0.1')", timeout=30_000)
    panel.locator(".widget-checkbox", has_text="spectral norm in D").locator("input").click()
    page.wait_for_selector(f"{OUTPUT} :text('hinge loss, no spectral norm')", timeout=30_000)
    assert run_in_new_cell(page, "print(panel.result.spectral_norm)").strip() == "False"
    assert rendered_images(page) >= 6  # gradients, live view, curves, samples, singular values, shipped
    screenshot(page, page.locator(f"{OUTPUT} img").nth(4), "08_stabilizing_gans-singular-values")


def test_two_dimensions_animation_steps_and_the_frame_slider_redraws(page, jupyter_lab):
    run_all_cells(page, jupyter_lab, "07_gans_in_two_dimensions.ipynb")
    animations = page.locator(f"{OUTPUT} .animation")
    assert animations.count() >= 2
    for number in range(animations.count()):  # each player shows its first frame once on screen
        animations.nth(number).scroll_into_view_if_needed()
        shown = "img => img.complete && img.naturalWidth > 0"
        first_frame = animations.nth(number).locator("img").first.element_handle()
        page.wait_for_function(shown, arg=first_frame, timeout=30_000)
    playing = animations.nth(1)  # the first interaction with a player is Play: it must advance
    playing.scroll_into_view_if_needed()
    still = playing.locator("img").first
    before = still.get_attribute("src")
    playing.locator("button[title='Play']").click()
    page.wait_for_function(
        "([img, before]) => img.src !== before", arg=[still.element_handle(), before], timeout=15_000
    )
    playing.locator("button[title='Pause']").click()
    animation = animations.first
    animation.scroll_into_view_if_needed()
    image = animation.locator("img").first
    animation.locator("button[title='First frame']").click()
    first = image.get_attribute("src")
    animation.locator("button[title='Next frame']").click()
    assert image.get_attribute("src") != first  # the JavaScript player runs: a new frame is shown
    animation.locator("button[title='Last frame']").click()
    screenshot(page, animation, "07_gans_in_two_dimensions-animation-last-frame")

    frame_label = page.locator(".widget-label", has_text="frame")
    slider_panel = page.locator(f"{OUTPUT} .widget-interact", has=frame_label)
    picture = slider_panel.locator("img").first
    before = picture.get_attribute("src")
    type_into(page, slider_panel.locator(".widget-readout").first, "0")
    page.wait_for_function(
        "([panel, before]) => panel.querySelector('img') && panel.querySelector('img').src !== before",
        arg=[slider_panel.element_handle(), before],
        timeout=30_000,
    )
    screenshot(page, slider_panel, "07_gans_in_two_dimensions-slider-frame-0")
    assert rendered_images(page) >= 6  # data, last frame, modes, coverage, field comparison, try-it


def wait_for_text(page, element, text: str, timeout_ms: int) -> None:
    """Wait until ``element`` shows ``text``."""
    has_text = f"e => e.textContent.includes({text!r})"
    page.wait_for_function(has_text, arg=element.element_handle(), timeout=timeout_ms)


def choose_file(page, button, path) -> None:
    """Click an upload button and pick ``path`` in the file chooser it opens, as a learner does."""
    with page.expect_file_chooser() as chooser:
        button.click()
    chooser.value.set_files(str(path))


def test_latent_space_panel_inverts_a_picked_and_an_uploaded_image_and_edits_it(page, jupyter_lab, tmp_path):
    run_all_cells(page, jupyter_lab, "09_latent_space.ipynb")
    panel = page.locator(f"{OUTPUT} .inversion-panel")
    panel.scroll_into_view_if_needed()
    message = panel.locator(".widget-html")

    index = panel.locator(".widget-text", has_text="test index").locator("input")
    index.fill("5")
    index.press("Enter")
    panel.locator("button", has_text="invert").click()
    wait_for_text(page, message, "pixel error", 60_000)
    panel.locator("img").first.wait_for(timeout=30_000)
    before = panel.locator("img").first.get_attribute("src")
    type_into(page, panel.locator(".widget-slider", has_text="edit steps").locator(".widget-readout"), "6")
    page.wait_for_function(
        "([panel, before]) => panel.querySelector('img') && panel.querySelector('img').src !== before",
        arg=[panel.element_handle(), before], timeout=60_000,
    )  # fmt: skip
    assert run_in_new_cell(page, "print(len(panel.path.z), panel.index.value)").strip() == "7 5"
    screenshot(page, panel, "09_latent_space-picked-and-edited")

    panel.locator("button", has_text="my file").click()
    notes = tmp_path / "notes.png"
    notes.write_text("not an image")
    choose_file(page, panel.locator("button", has_text="upload"), notes)
    panel.locator("button", has_text="invert").click()
    wait_for_text(page, message, "error:", 30_000)
    assert "notes.png is not an image file" in message.inner_text() and "Traceback" not in panel.inner_text()

    from PIL import Image

    photo = tmp_path / "shirt.png"
    Image.new("L", (60, 80), 230).save(photo)  # light background: the panel says it inverts it
    choose_file(page, panel.locator("button", has_text="upload"), photo)
    panel.locator("button", has_text="invert").click()
    wait_for_text(page, message, "pixel error", 60_000)
    assert "colours inverted" in message.inner_text()
    screenshot(page, panel, "09_latent_space-uploaded")


def test_own_images_chapter_trains_on_its_demo_folder_and_the_panel_sets_augmentation(page, jupyter_lab):
    run_all_cells(page, jupyter_lab, "10_your_own_images.ipynb")
    text = page.text_content(".jp-Notebook")
    assert "32x32, colour, no classes" in text and "from the cache" in text  # read, then read again cached
    assert "real (held out)" in text and "held-out images of" in text  # measured against its own pictures
    panel = page.locator(f"{OUTPUT} .widget-interact").first
    panel.scroll_into_view_if_needed()
    labels = {label.strip() for label in panel.locator(".widget-label").all_text_contents()}
    assert {"augment", "image size"} <= labels and "dataset" not in labels, labels
    page.wait_for_selector(f"{OUTPUT} :text('augment adaptive')", timeout=30_000)
    panel.locator(".widget-dropdown", has_text="augment").locator("select").select_option("diff")
    page.wait_for_selector(f"{OUTPUT} :text('augment diff')", timeout=30_000)
    shown = run_in_new_cell(page, "print(panel.result.augment, panel.result.data_dir == str(demo))")
    assert shown.strip() == "diff True"
    screenshot(page, panel, "10_your_own_images-panel")
    assert rendered_images(page) >= 8  # demo, augmented, curves, three sample grids, live view, samples
    screenshot(page, page.locator(f"{OUTPUT} img").first, "10_your_own_images-demo-folder")
    screenshot(page, page.locator(f"{OUTPUT} img").nth(2), "10_your_own_images-memorisation")
