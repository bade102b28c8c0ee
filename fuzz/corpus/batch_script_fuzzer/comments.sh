#!/bin/bash
  #SBATCH -N 3
##SBATCH -N 4
#SBATCH --time=1:00:00   # one hour
#SBATCH -J "my job" # named
#SBATCH --gres=gpu:a100:2 --mem=0
module load cuda
#SBATCH -N 3
