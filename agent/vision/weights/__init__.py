"""Model files trained by the project (issue 18), shipped inside the agent package.

``plate_rec.onnx``: our plate recognizer (CRNN/CTC, :mod:`agent.vision.training`), with its model
card ``plate_rec.card.json`` (data, steps, seed, metrics, time to train). Loaded by
:func:`agent.vision.models.own_model_path`; nothing is downloaded at run time.
"""
