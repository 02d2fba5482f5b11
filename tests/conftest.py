import os
# Tests never reach a model hub: everything runs on ShapesWorld or tiny models built in the test.
os.environ.setdefault('HF_HUB_OFFLINE', '1')
os.environ.setdefault('TRANSFORMERS_OFFLINE', '1')
os.environ.setdefault('HF_HUB_DISABLE_TELEMETRY', '1')
os.environ.setdefault('MPLBACKEND', 'Agg')
