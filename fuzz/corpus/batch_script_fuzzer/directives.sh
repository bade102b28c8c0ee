#!/bin/bash
#SBATCH -J train
#SBATCH -N 2 --gpus-per-node=h100:4 -c 4 --ntasks-per-node=2
#SBATCH --mem-per-cpu=2G -t 2-12:30
#WEFT --priority=5
srun train.py
