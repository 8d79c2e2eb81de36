"""What the tests share and are not tests themselves: the CUDA backend run on the host
(cuda_host, cudnn_host), an independent Caffe reference (caffe_reference) and the onnxruntime
oracle (ort)."""
