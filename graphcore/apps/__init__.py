"""Applications built on graphcore, above the engine and the zoo: the image search (``search``), training
curves as PNG files (``plot``) and the recipes the ``graphcore`` command runs (``recipes``: train a zoo model
on the bundled digits, profile a training step, the search demo). The engine never imports them."""
