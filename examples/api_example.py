"""cnncost from Python: analyse a live Keras model and a .keras file, look at the numbers in pandas.

python examples/api_example.py
"""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402

import cnncost  # noqa: E402

model = keras.applications.MobileNetV2(weights=None)
report = cnncost.analyze(model)
frame = report.to_dataframe()
print(frame.sort_values("macs", ascending=False)[["name", "type", "params", "macs"]].head())
print("total MACs:", f"{report.totals['macs']:,}", "params:", f"{report.totals['params']:,}")

small = cnncost.analyze("examples/models/seed_cnn.keras", input_shape="128,128,3")
print("seed CNN at 128x128: params", f"{small.totals['params']:,}")
