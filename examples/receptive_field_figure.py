"""Draw the seed CNN's receptive field growth, layer by layer, over a synthetic sample image.

Regenerates docs/img/seed_receptive_field.png:  python examples/receptive_field_figure.py
The receptive fields come from cnncost (no keras import); the image is synthetic (numpy).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import cnncost

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "examples" / "models" / "seed_cnn.keras"
OUTPUT = ROOT / "docs" / "img" / "seed_receptive_field.png"


def synthetic_image(size: int = 256, seed: int = 0) -> np.ndarray:
    """A garment-like silhouette on a textured background: smooth, reproducible, no download."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    background = 0.85 - 0.15 * y[..., None] + 0.03 * rng.standard_normal((size, size, 1))
    image = np.repeat(background, 3, axis=2)
    body = (np.abs(x - 0.5) < 0.18 + 0.08 * y) & (y > 0.22) & (y < 0.92)
    sleeves = (np.abs(x - 0.5) < 0.38) & (y > 0.22) & (y < 0.45) & (np.abs(x - 0.5) > 0.1)
    collar = np.hypot(x - 0.5, y - 0.22) < 0.07
    garment = (body | sleeves) & ~collar
    stripes = 0.5 + 0.5 * np.sin(2 * np.pi * 14 * y)
    colour = np.stack([0.65 + 0.25 * stripes, 0.2 + 0.1 * stripes, 0.25 + 0.1 * stripes], axis=2)
    image[garment] = colour[garment]
    return np.clip(image, 0, 1)


def main() -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    report = cnncost.analyze(MODEL)
    (input_name,) = [t.name for t in report.inputs]
    layers = []
    for row in report.layers:
        rf = row.extra["receptive_field"][input_name]
        if rf and not rf["global"] and row.type != "InputLayer":
            layers.append((row.name, rf["size"][0], rf["jump"][0], rf["start"][0], row))
    fig, (ax, growth) = plt.subplots(
        1, 2, figsize=(12, 6), dpi=110, gridspec_kw={"width_ratios": [1.1, 1]}
    )
    ax.imshow(synthetic_image())
    colours = plt.cm.plasma(np.linspace(0.0, 0.85, len(layers)))
    for (name, size, jump, start, row), colour in zip(layers, colours):
        unit = row.output_shapes[0][1] // 2  # the middle unit of the layer's output
        centre = start + unit * jump
        low = centre - (size - 1) / 2
        # pixel c covers [c - 1/2, c + 1/2], so the region's square starts at low - 1/2
        ax.add_patch(
            Rectangle(
                (low - 0.5, low - 0.5),
                size,
                size,
                fill=False,
                lw=2,
                color=colour,
                label=f"{name}: {size}x{size}, jump {jump}",
            )
        )
    ax.add_patch(
        Rectangle(
            (40, 200),
            10,
            10,
            fill=False,
            lw=1.5,
            ls="--",
            color="black",
            label="README's claim for the last layer: 10x10",
        )
    )
    ax.legend(loc="lower left", fontsize=7, framealpha=0.9)
    ax.set_title("Receptive field of the middle unit of each layer")
    ax.set_axis_off()

    # The three answers, layer by layer: exact, the README's rule (add k-1 per layer, jump
    # ignored) and the notebook's (add k-1 for conv layers only).
    names = [name for name, *_ in layers]
    exact = [size for _, size, *_ in layers]
    readme, notebook, r_readme, r_notebook = [], [], 1, 1
    for name, *_ in layers:
        k = 3 if name.startswith("conv") else 2
        r_readme += k - 1
        if name.startswith("conv"):
            r_notebook += k - 1
        readme.append(r_readme)
        notebook.append(r_notebook)
    x = np.arange(len(names))
    growth.plot(x, exact, "o-", label="exact (cnncost; = gradient-measured)")
    growth.plot(x, readme, "s--", label="README: r += k-1 per layer (jump ignored)")
    growth.plot(x, notebook, "^:", label="notebook: r += k-1 per conv layer")
    for xi, value in zip(x, exact):
        growth.annotate(
            str(value),
            (xi, value),
            xytext=(0, 6),
            textcoords="offset points",
            ha="center",
            fontsize=8,
        )
    growth.set_xticks(x, names, rotation=30, ha="right", fontsize=8)
    growth.set_ylabel("receptive field size (pixels, per axis)")
    growth.set_title("Seed CNN (256x256 input): receptive field growth")
    growth.legend(fontsize=8)
    growth.grid(alpha=0.3)
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(OUTPUT, bbox_inches="tight")
    plt.close(fig)
    return OUTPUT


if __name__ == "__main__":
    print(main())
