/*
 * Exporting a CNN model's structure to TensorBoard's Graphs tab.
 */
#ifndef TBW_CNN_GRAPH_H
#define TBW_CNN_GRAPH_H

#include <tbw/cnn.h>
#include <tbw/graph.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Adds the model's structure to g as TensorFlow-style nodes, so the Graphs tab
 * shows it like a TensorFlow model of the same layers:
 *   input/x (Placeholder) and input/y (labels);
 *   per conv layer "S": S/weights, S/biases (VariableV2), S/Conv2D, S/BiasAdd;
 *   per dense layer "S": S/weights, S/biases, S/MatMul, S/BiasAdd;
 *   per activation, pooling, flatten or dropout layer: one node named after the
 *   layer (a name with a "/" is used as it is, e.g. "conv1/Relu"; otherwise
 *   "S/<Op>"), with ops Relu, Sigmoid, Tanh, MaxPool, AvgPool, Reshape, Dropout;
 *   softmax/Softmax, cross_entropy/SoftmaxCrossEntropyWithLogits,
 *   accuracy/ArgMax, accuracy/Equal, accuracy/Mean and train/Adam (or
 *   train/Momentum) with control inputs from every variable.
 * Every node carries "_output_shapes" in NCHW order with -1 for the batch,
 * "T" and, for Conv2D and pooling, strides, padding, dilations and
 * data_format "NCHW". Returns 0, TBW_EINVAL (an unbuilt model or a graph
 * error; the message is in tbw_graph_errmsg(g)) or TBW_ENOMEM.
 */
TBW_API int cnn_model_export_graph(const cnn_model *m, tbw_graph *g);

#ifdef __cplusplus
}
#endif
#endif
