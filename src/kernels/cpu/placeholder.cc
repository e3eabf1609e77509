namespace ember::kernels {}
