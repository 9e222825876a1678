//! Spider 1.0: data set, schema text, 3-shot prompt, baseline run.
