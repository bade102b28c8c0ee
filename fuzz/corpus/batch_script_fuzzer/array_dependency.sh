#!/bin/bash
#SBATCH --array=0-15:4,20%2
#SBATCH --dependency=afterok:3:4,singleton
#SBATCH --signal=B:SIGUSR2@90 --requeue --exclusive
#SBATCH -o out-%A_%a.%j.log -e err-%x.%u
#SBATCH -p gpu,cpu -A team --export=ALL,FOO=bar
echo hi
