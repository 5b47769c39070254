// Read bandwidth of this machine: the floor for a memory-bound CPU decode step.
// Build: gcc -O3 -march=native -fopenmp bench/read_bandwidth.c -o /tmp/bw && /tmp/bw
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <omp.h>
int main(){ size_t n = (size_t)512<<20; float *a = malloc(n*4); for(size_t i=0;i<n;i++) a[i]=1.0f;
 double best=1e9; for(int r=0;r<5;r++){ struct timespec t0,t1; clock_gettime(CLOCK_MONOTONIC,&t0); double s=0;
 #pragma omp parallel for reduction(+:s)
 for(size_t i=0;i<n;i++) s+=a[i];
 clock_gettime(CLOCK_MONOTONIC,&t1); double dt=(t1.tv_sec-t0.tv_sec)+(t1.tv_nsec-t0.tv_nsec)*1e-9; if(dt<best)best=dt; if(s<0)printf("x");}
 printf("read bandwidth: %.1f GB/s (2 GiB, best of 5, %d threads)\n", n*4/best/1e9, omp_get_max_threads()); }
