//! Metrics in DeepEval's shape and Execution Accuracy.
