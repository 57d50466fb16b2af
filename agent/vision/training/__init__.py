"""Our own plate recognizer (issue 18, Deliver 2): a small CRNN/CTC over the plate alphabet.

* :mod:`.charset` and :mod:`.data` (numpy only): the class list, label encoding, greedy CTC
  decoding, and training samples from the scene generator's plate renderer with realistic
  degradations plus the TUNE part of the real set (never the frozen part).
* :mod:`.model` and :mod:`.train` need PyTorch, which is **not** in requirements.lock or the
  agent's environment: ``make train-env`` builds ``.venv-train`` (the lock's packages plus the CPU
  build of torch 2.13.0, ADR/libraries note in docs/libraries.md). Training is a documented command,
  not part of ``make test``::

      nice -n 19 .venv/bin/python -m agent.vision.training.harvest      # plate crops from TUNE scenes
      nice -n 19 .venv-train/bin/python -m agent.vision.training.train --steps 2500 --lr 3e-3 --out .data/plate_rec.onnx

  then copy ``plate_rec.onnx`` and ``plate_rec.card.json`` to ``agent/vision/weights/`` (docs/vision.md).

* :mod:`.onnx_reader` runs the exported model with onnxruntime in the agent (no torch).

Double-row plates are read as one line: the top row's crop and the bottom row's crop are scaled to
the same height and put side by side (the order the plate is read in), both for training samples
and at inference, so one single-line model covers single and double rows.
"""
