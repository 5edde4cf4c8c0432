# Sourced (with root set to the repository): the environment that puts the CUDA path on the stand-in
# driver and cuBLAS with every kernel run by the kernel emulator (kernels-cu/README.md, "The kernel
# emulator"), or a message and status 1 when ./dev build has not made them. Used by ./dev emu-test and
# scripts/gpu-session.sh --emulated.
emu_fake=$root/kernels-cu/target/cmake/fake-cuda emu_dir=$root/kernels-cu/target/cmake/emu
if [ -f "$emu_fake/libcuda.so.1" ] && [ -n "$(ls "$emu_dir"/libemu_*.so 2>/dev/null)" ]; then
  export LD_LIBRARY_PATH=$emu_fake${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} DISTILBERT_CUBLAS_DIR=$emu_fake \
    FAKE_CUDA_EMULATE=$emu_dir FAKE_CUDA_SIGNATURES=$root/kernels-cu/target/kernel-resources/distilbert/kernels
else
  echo "the kernel emulator needs $emu_fake and $emu_dir (./dev build makes them)" >&2
  false
fi
