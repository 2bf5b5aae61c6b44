/* A stand-in for the NVIDIA driver (libcuda.so.1) that reports one GPU: enough for device discovery
 * to succeed, so the tests reach the checks that come after it on a machine without a GPU. Only the
 * functions ferry-device calls; anything else (ONNX Runtime's CUDA provider) fails to load against it. */
#include <string.h>
#include <stddef.h>
typedef int CUresult; typedef int CUdevice; typedef void* CUcontext;
static int ctx_dummy;
CUresult cuInit(unsigned f){return 0;}
CUresult cuDriverGetVersion(int*v){*v=13000;return 0;}
CUresult cuDeviceGetCount(int*c){*c=1;return 0;}
CUresult cuDeviceGet(CUdevice*d,int o){if(o!=0)return 101;*d=0;return 0;}
CUresult cuDeviceGetName(char*n,int len,CUdevice d){strncpy(n,"Fake GPU",len);return 0;}
CUresult cuDeviceGetAttribute(int*v,int a,CUdevice d){*v=(a==75)?9:0;return 0;}
CUresult cuDeviceTotalMem_v2(size_t*b,CUdevice d){*b=(size_t)1<<34;return 0;}
CUresult cuDevicePrimaryCtxRetain(CUcontext*c,CUdevice d){*c=&ctx_dummy;return 0;}
CUresult cuDevicePrimaryCtxRelease_v2(CUdevice d){return 0;}
CUresult cuCtxSetCurrent(CUcontext c){return 0;}
CUresult cuMemGetInfo_v2(size_t*f,size_t*t){*f=(size_t)1<<33;*t=(size_t)1<<34;return 0;}
