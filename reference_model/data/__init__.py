"""DeepFashion Category & Attribute data: annotation parsers, records, splits, synthetic data.

The tf.data pipeline lives in `pipeline` and is imported only where it is used, so reading and
checking a dataset needs neither TensorFlow nor Keras.
"""
